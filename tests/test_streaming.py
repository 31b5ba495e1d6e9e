"""Folder datasets larger than ``data.memory_budget_mb``: the training split is streamed from disk
and gives exactly the batches the in-memory path gives."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from zoo.data import DataConfig, eval_dataset, load_dataset, train_dataset
from zoo.data.folder import StreamedImages
from zoo.errors import ZooError


def _png(path, array) -> None:
    path.write_bytes(tf.io.encode_png(tf.constant(np.asarray(array, dtype=np.uint8))).numpy())


def _folder(tmp_path, shapes):
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for index in range(40):
        _png(folder / f"{index:03d}.png", rng.integers(0, 256, shapes[index % len(shapes)]))
    return folder


def _both(folder, monkeypatch, tmp_path, **extra):
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    config = dict(name=f"folder:{folder}", image_size=12, validation_size=4, **extra)
    held = load_dataset(DataConfig(**config))
    streamed = load_dataset(DataConfig(**config, memory_budget_mb=0))
    return held, streamed


def _batches(dataset):
    return [(x.numpy(), y.numpy()) for x, y in dataset]


@pytest.mark.parametrize("shapes", [[(20, 16, 3), (9, 12, 1), (12, 12, 4), (30, 30, 2)],  # mixed: RGB
                                    [(20, 16, 1), (12, 12, 2)]])  # all grey: one channel
def test_streamed_training_split_gives_the_in_memory_batches(tmp_path, monkeypatch, shapes):
    held, streamed = _both(_folder(tmp_path, shapes), monkeypatch, tmp_path)
    assert isinstance(streamed.train.x, StreamedImages) and isinstance(held.train.x, np.ndarray)
    assert streamed.image_shape == held.image_shape == (12, 12, 3 if len(shapes) == 4 else 1)
    assert streamed.train.x.shape == held.train.x.shape
    np.testing.assert_array_equal(streamed.train.x[:], held.train.x)  # indexing decodes the same pixels
    np.testing.assert_array_equal(streamed.train.x[[5, 2]], held.train.x[[5, 2]])
    for split in ("validation", "test"):
        np.testing.assert_array_equal(getattr(streamed, split).x, getattr(held, split).x)
    for mode in ("dynamic", "none"):
        kwargs = dict(batch_size=8, seed=3, start_epoch=1, epochs=3, binarization=mode)
        a, b = _batches(train_dataset(held.train, **kwargs)), _batches(train_dataset(streamed.train, **kwargs))
        assert len(a) == len(b) == 2 * (len(held.train) // 8)
        for (xa, ya), (xb, yb) in zip(a, b):
            np.testing.assert_array_equal(xa, xb)
            np.testing.assert_array_equal(ya, yb)
    a = _batches(eval_dataset(held.train, batch_size=7, binarization="none"))
    b = _batches(eval_dataset(streamed.train, batch_size=7, binarization="none"))
    np.testing.assert_array_equal(np.concatenate([x for x, _ in a]), np.concatenate([x for x, _ in b]))
    binary = np.concatenate([x for x, _ in _batches(eval_dataset(streamed.train, batch_size=7,
                                                                 binarization="dynamic"))])
    assert binary.shape == held.train.x.shape and set(np.unique(binary)) <= {0.0, 1.0}


def test_streaming_only_above_the_budget_and_bad_files_are_found_before_training(tmp_path, monkeypatch):
    folder = _folder(tmp_path, [(12, 12, 3)])
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    # 40 images of 12 x 12 x 3 bytes = 17 KB: held under the default budget.
    assert isinstance(load_dataset(DataConfig(name=f"folder:{folder}", image_size=12)).train.x, np.ndarray)
    (folder / "017.png").write_bytes(b"not a png at all")  # a training file (not validation/test)
    with pytest.raises(ZooError, match="017.png"):
        load_dataset(DataConfig(name=f"folder:{folder}", image_size=12, validation_size=4, memory_budget_mb=0))


def test_static_binarisation_of_a_streamed_split_is_a_user_error(tmp_path, monkeypatch):
    _, streamed = _both(_folder(tmp_path, [(12, 12, 3)]), monkeypatch, tmp_path)
    with pytest.raises(ZooError, match="memory_budget_mb"):
        train_dataset(streamed.train, batch_size=8, seed=0, start_epoch=0, epochs=1, binarization="static")
