"""Images as a model sees them at test time, their posterior means, and the Gaussian fitted to those of the
training images (the ``fitted`` latent source of ``zoo.evaluation.latent_sources``). Loads no TensorFlow
itself: the model does the encoding."""

from __future__ import annotations

import numpy as np

from zoo.data import ImageData, binarize_array
from zoo.evaluation.latent_sources import fitted_gaussian

# The test set is binarised once with this seed, so every model is scored on the same images.
TEST_BINARIZATION_SEED = 0
# Training images whose codes the fitted Gaussian is estimated from: more than enough for a 200-d covariance.
FITTED_CODES = 10_000


def as_model_sees(images: np.ndarray, binarization: str) -> np.ndarray:
    """uint8 images as a model of ``binarization`` sees them at test time: binarised (with the fixed test seed)
    or scaled to [0, 1]."""
    if binarization == "none":
        return images.astype("float32") / 255.0
    return binarize_array(images, seed=TEST_BINARIZATION_SEED)


def posterior_means(model, images: np.ndarray, labels: np.ndarray | None = None, batch_size: int = 500) -> np.ndarray:
    """E_q[z|x] of ``images`` [N, H, W, C] as an [N, latent] array, ``batch_size`` images at a time
    (``labels`` for conditional models)."""
    parts = []
    for start in range(0, len(images), batch_size):
        y = None if labels is None else labels[start:start + batch_size]
        parts.append(np.asarray(model.encode(np.asarray(images[start:start + batch_size], np.float32), y)))
    return np.concatenate(parts)


def fit_code_gaussian(model, data: ImageData, binarization: str,
                      count: int = FITTED_CODES) -> tuple[np.ndarray, np.ndarray]:
    """(mean, covariance) of the posterior means of the first ``count`` training images, seen as at test time
    (conditional models encode them with their labels)."""
    images = as_model_sees(data.train.x[:count], binarization)
    labels = data.train.y[:count] if model.is_conditional else None
    return fitted_gaussian(posterior_means(model, images, labels))
