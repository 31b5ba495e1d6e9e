"""Datasets for the zoo: download and verify, load and split, feed to TensorFlow.

``load_dataset(DataConfig(...))`` returns an ``ImageData`` with uint8 train,
validation and test splits; ``train_dataset`` / ``eval_dataset`` turn a split
into deterministic tf.data pipelines. The pipeline functions are imported on
first use so that ``import zoo.data`` does not pull in TensorFlow.
"""

from __future__ import annotations

from typing import Any

from zoo.data.datasets import (
    BINARIZATIONS,
    DATASET_NAMES,
    DataConfig,
    ImageData,
    Split,
    find_cartoon_folder,
    load_dataset,
    resolve_data_dir,
)
from zoo.data.download import ensure_file, extract_tarball, verify_file
from zoo.data.folder import list_image_files, load_images
from zoo.data.idx import read_idx
from zoo.data.sources import CARTOON_TARBALL, IDX_SOURCES, RemoteFile

_PIPELINE = ("binarize_array", "eval_dataset", "images_per_epoch", "resolve_binarization", "steps_per_epoch",
             "train_dataset")


def __getattr__(name: str) -> Any:
    # PEP 562 lazy import: the pipeline needs TensorFlow, the loaders do not.
    if name in _PIPELINE:
        from zoo.data import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'zoo.data' has no attribute {name!r}")


__all__ = [
    "BINARIZATIONS",
    "CARTOON_TARBALL",
    "DATASET_NAMES",
    "DataConfig",
    "IDX_SOURCES",
    "ImageData",
    "RemoteFile",
    "Split",
    "binarize_array",
    "ensure_file",
    "eval_dataset",
    "extract_tarball",
    "find_cartoon_folder",
    "images_per_epoch",
    "list_image_files",
    "load_dataset",
    "load_images",
    "read_idx",
    "resolve_binarization",
    "resolve_data_dir",
    "steps_per_epoch",
    "train_dataset",
    "verify_file",
]
