"""Where latent codes to decode come from: the model's prior, N(0, I), a uniform box, or a Gaussian fitted to codes.

- ``prior``: p(z) of the model (for the autoencoder the Gaussian fitted to its training codes);
- ``normal``: N(0, I), whatever the model's prior;
- ``box``: uniform over a per-dimension range, e.g. that of the test set's posterior means (the
  "uniform sampling between the latent bounds" of the reference texts);
- ``fitted``: a full-covariance Gaussian fitted after training to the posterior means of training images
  (``fitted_gaussian``), the ex-post density estimate of Ghosh et al. 2020 ("From Variational to Deterministic
  Autoencoders", ICLR 2020): it decodes codes from where the encoder puts images, so it shows what the decoder
  can draw when N(0, I) falls into regions that no image's posterior covers.

Each source draws from its own random stream of ``seed`` (keyed by its position in ``LATENT_SOURCES``).
"""

from __future__ import annotations

import numpy as np

LATENT_SOURCES = ("prior", "normal", "box", "fitted")
# What each source is, in figure titles and on the docs pages ("z ~ ...").
SOURCE_TITLES = {"prior": "p(z)", "normal": "N(0, I)", "box": "uniform box of the test codes",
                 "fitted": "Gaussian fitted to the training codes"}


def fitted_gaussian(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mean [d] and covariance [d, d] of ``codes`` [N, d] (one code per row), as the ``fitted`` source
    takes them."""
    codes = np.asarray(codes, dtype=np.float64)
    return codes.mean(axis=0), np.atleast_2d(np.cov(codes, rowvar=False))


def latent_codes(model, source: str, count: int, seed: int, box: tuple[np.ndarray, np.ndarray],
                 labels: np.ndarray | None = None,
                 fitted: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """``count`` codes [count, latent_dim] from ``source``; ``box`` is (low, high) per dimension, ``labels``
    the classes of a conditional model's prior, ``fitted`` the (mean, covariance) of ``fitted_gaussian``."""
    latent = model.config.latent_dim
    rng = np.random.default_rng([seed, LATENT_SOURCES.index(source)])
    if source == "normal":
        return rng.standard_normal((count, latent))
    if source == "box":
        low, high = box
        return rng.uniform(low, high, size=(count, latent))
    if source == "fitted":
        if fitted is None:
            raise ValueError("the 'fitted' source needs the (mean, covariance) of fitted_gaussian(codes)")
        mean, covariance = fitted
        # eigh, not Cholesky: a covariance of codes with inactive dimensions is close to singular.
        return rng.multivariate_normal(mean, covariance, size=count, method="eigh")
    import tensorflow as tf

    prior = model.prior(None if labels is None else tf.convert_to_tensor(labels, tf.int32))
    shape = (count,) if prior.batch_shape.rank == 0 else ()
    return np.asarray(prior.sample(shape, seed=tf.constant([seed, 0])), dtype=np.float64)
