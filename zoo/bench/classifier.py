"""The bench's classifier: trained once per labelled dataset, cached in the results folder with its record.

The network and the scores it gives samples are ``zoo.evaluation.sample_classifier``.
"""

from __future__ import annotations

import time
from typing import Any

from zoo.evaluation.frechet import frechet_distance_of
from zoo.evaluation.sample_classifier import ARCHITECTURE, Scorer, build_classifier, to_unit, train_classifier


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
        "architecture": ARCHITECTURE,
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
