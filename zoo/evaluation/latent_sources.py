"""Where latent codes to decode come from: the model's prior, N(0, I), or a uniform box.

- ``prior``: p(z) of the model (for the autoencoder the Gaussian fitted to its training codes);
- ``normal``: N(0, I), whatever the model's prior;
- ``box``: uniform over a per-dimension range, e.g. that of the test set's posterior means (the
  "uniform sampling between the latent bounds" of the reference texts).

Each source draws from its own random stream of ``seed`` (keyed by its position in ``LATENT_SOURCES``).
"""

from __future__ import annotations

import numpy as np

LATENT_SOURCES = ("prior", "normal", "box")


def latent_codes(model, source: str, count: int, seed: int, box: tuple[np.ndarray, np.ndarray],
                 labels: np.ndarray | None = None) -> np.ndarray:
    """``count`` codes [count, latent_dim] from ``source``; ``box`` is (low, high) per dimension, ``labels``
    the classes of a conditional model's prior."""
    latent = model.config.latent_dim
    rng = np.random.default_rng([seed, LATENT_SOURCES.index(source)])
    if source == "normal":
        return rng.standard_normal((count, latent))
    if source == "box":
        low, high = box
        return rng.uniform(low, high, size=(count, latent))
    import tensorflow as tf

    prior = model.prior(None if labels is None else tf.convert_to_tensor(labels, tf.int32))
    shape = (count,) if prior.batch_shape.rank == 0 else ()
    return np.asarray(prior.sample(shape, seed=tf.constant([seed, 0])), dtype=np.float64)
