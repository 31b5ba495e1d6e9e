"""The bench's classifier and the Fréchet distance in its feature space.

A small conv net (three stride-2 convolutions, a 128-unit feature layer, a linear
read-out, ~190k parameters) is trained by the bench once per labelled dataset and cached in the
results folder. It scores generated images in two ways:

- **sample accuracy** of a conditional model: the share of class-conditional
  samples that the classifier assigns to the class they were requested for;
- **Fréchet distance** (FID-style, Heusel et al. 2017) between the Gaussians
  fitted to the classifier's 128-d penultimate features of N generated images
  and of N test images. It is computed with the same N for every model, because
  the estimate is biased upwards for small N; compare numbers of one budget only.

Images are grey levels in [0, 1] (x / 255), the same scale as a decoder's mean
image, so samples and test images are compared like for like.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from scipy import linalg

FEATURE_LAYER = "features"


def build_classifier(image_shape, num_classes: int, compile: bool = True):
    import keras

    inputs = keras.Input(shape=tuple(image_shape), name="image")
    x = keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu", name="conv_1")(inputs)
    x = keras.layers.Conv2D(64, 3, strides=2, padding="same", activation="relu", name="conv_2")(x)
    x = keras.layers.Conv2D(64, 3, strides=2, padding="same", activation="relu", name="conv_3")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    features = keras.layers.Dense(128, activation="relu", name=FEATURE_LAYER)(x)
    x = keras.layers.Dropout(0.25, seed=0, name="dropout")(features)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    model = keras.Model(inputs, logits, name="bench_classifier")
    if not compile:
        return model
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def to_unit(images: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] images → float32 [0, 1]."""
    return np.asarray(images, dtype=np.float32) / 255.0


def train_classifier(train_x: np.ndarray, train_y: np.ndarray, num_classes: int, *, epochs: int,
                     seed: int = 0, batch_size: int = 128, verbose: int = 0):
    """Fits the classifier on uint8 images; returns the Keras model."""
    import keras

    keras.utils.set_random_seed(seed)
    model = build_classifier(train_x.shape[1:], num_classes)
    model.fit(to_unit(train_x), np.asarray(train_y, dtype=np.int32), epochs=epochs, batch_size=batch_size,
              shuffle=True, verbose=verbose)
    return model


class Scorer:
    """Wraps a trained classifier: logits, penultimate features, accuracy, Fréchet distance."""

    def __init__(self, model):
        import keras

        self.model = model
        self.features_model = keras.Model(model.input, [model.get_layer(FEATURE_LAYER).output, model.output])
        self._reference: dict[str, Any] | None = None

    @classmethod
    def load(cls, path) -> "Scorer":
        import keras

        return cls(keras.models.load_model(path, safe_mode=True))

    def features_and_logits(self, images01: np.ndarray, batch_size: int = 500) -> tuple[np.ndarray, np.ndarray]:
        feats, logits = [], []
        for start in range(0, len(images01), batch_size):
            f, l = self.features_model(np.asarray(images01[start:start + batch_size], np.float32), training=False)
            feats.append(np.asarray(f, np.float64))
            logits.append(np.asarray(l, np.float64))
        return np.concatenate(feats), np.concatenate(logits)

    def accuracy(self, images01: np.ndarray, labels: np.ndarray) -> float:
        _, logits = self.features_and_logits(images01)
        return float(np.mean(np.argmax(logits, axis=1) == np.asarray(labels)))

    def set_reference(self, images01: np.ndarray) -> None:
        features, _ = self.features_and_logits(images01)
        self._reference = {"mean": features.mean(axis=0), "cov": np.cov(features, rowvar=False),
                           "count": len(features)}

    def score_samples(self, images01: np.ndarray, requested: np.ndarray | None = None) -> dict[str, Any]:
        """Fréchet distance to the reference, predicted-class histogram and entropy, accuracy if ``requested``."""
        features, logits = self.features_and_logits(images01)
        predicted = np.argmax(logits, axis=1)
        classes = logits.shape[1]
        histogram = np.bincount(predicted, minlength=classes) / max(len(predicted), 1)
        nonzero = histogram[histogram > 0]
        out: dict[str, Any] = {
            "count": int(len(images01)),
            "predicted_histogram": [float(v) for v in histogram],
            # Entropy of the predicted-class histogram in nats; log(10) = 2.30 for a perfectly even spread.
            "class_entropy": float(abs(-(nonzero * np.log(nonzero)).sum())),
        }
        if self._reference is not None:
            out["fid"] = frechet_distance(features.mean(axis=0), np.cov(features, rowvar=False),
                                          self._reference["mean"], self._reference["cov"])
        if requested is not None:
            requested = np.asarray(requested)
            out["accuracy"] = float(np.mean(predicted == requested))
            out["per_class_accuracy"] = [float(np.mean(predicted[requested == c] == c)) if np.any(requested == c)
                                         else None for c in range(classes)]
        return out


def frechet_distance(mean_a: np.ndarray, cov_a: np.ndarray, mean_b: np.ndarray, cov_b: np.ndarray) -> float:
    """‖μa − μb‖² + Tr(Σa + Σb − 2 (Σa Σb)^½), the Fréchet distance between two Gaussians.

    Tr((Σa Σb)^½) is computed as Σ_i √λ_i with λ the eigenvalues of the symmetric
    positive semi-definite Σa^½ Σb Σa^½ (same spectrum as Σa Σb), which stays exact
    when a covariance is singular — ReLU features often have dead units — where
    ``scipy.linalg.sqrtm(Σa @ Σb)`` warns and needs a diagonal offset.
    """
    mean_a, mean_b = np.atleast_1d(np.asarray(mean_a, np.float64)), np.atleast_1d(np.asarray(mean_b, np.float64))
    cov_a, cov_b = np.atleast_2d(np.asarray(cov_a, np.float64)), np.atleast_2d(np.asarray(cov_b, np.float64))
    diff = mean_a - mean_b
    values, vectors = linalg.eigh((cov_a + cov_a.T) / 2)
    root_a = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
    middle = root_a @ cov_b @ root_a
    trace_root = float(np.sum(np.sqrt(np.clip(linalg.eigvalsh((middle + middle.T) / 2), 0.0, None))))
    value = float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_root)
    return max(value, 0.0)


def frechet_distance_of(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """The Fréchet distance between the Gaussians fitted to two feature sets [N, D]."""
    return frechet_distance(features_a.mean(axis=0), np.cov(features_a, rowvar=False),
                            features_b.mean(axis=0), np.cov(features_b, rowvar=False))


def fit_and_save(data, path, *, epochs: int, train_subset: int | None, fid_samples: int,
                 log=print) -> dict[str, Any]:
    """Trains the classifier on ``data`` (an ImageData), saves it to ``path`` and returns its record."""
    from zoo import io as zio

    started = time.perf_counter()
    x, y = data.train.x, data.train.y
    if train_subset is not None:
        x, y = x[:train_subset], y[:train_subset]
    model = train_classifier(x, y, data.num_classes, epochs=epochs, verbose=2 if log else 0)
    seconds = time.perf_counter() - started
    scorer = Scorer(model)
    test_x = to_unit(data.test.x)
    accuracy = scorer.accuracy(test_x, data.test.y)
    # The floor of the Fréchet distance at this N: training images against test images.
    n = min(fid_samples, len(data.test.x), len(data.train.x))
    reference_features, _ = scorer.features_and_logits(test_x[:n])
    train_features, _ = scorer.features_and_logits(to_unit(data.train.x[-n:]))
    # Saved without the optimizer state: a third of the size, and only inference needs it.
    bare = build_classifier(data.train.x.shape[1:], data.num_classes, compile=False)
    bare.set_weights(model.get_weights())
    with zio.atomic_path(path, suffix=".keras") as tmp:
        bare.save(tmp)
    return {
        "dataset": data.name,
        "architecture": "conv32/s2-conv64/s2-conv64/s2-dense128-dense(classes), Adam 1e-3, batch 128",
        "epochs": epochs,
        "train_images": int(len(x)),
        "test_images": int(len(test_x)),
        "test_accuracy": accuracy,
        "parameters": int(model.count_params()),
        "train_seconds": seconds,
        "fid_samples": int(n),
        "fid_train_vs_test": frechet_distance_of(train_features, reference_features),
        "checksums": data.checksums,
    }
