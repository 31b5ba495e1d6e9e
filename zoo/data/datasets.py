"""The public dataset API: ``DataConfig`` in, ``ImageData`` (train/validation/test) out.

Splits are a fixed function of the data and the config, never of the training
seed, so every model in the zoo is validated and tested on the same examples:

- MNIST / Fashion-MNIST use the official test set. Validation examples are
  drawn from the full official training set with split seed 0.
- Cartoon Set and folders have no official test set: ``test_fraction`` of the
  files (at least one) is drawn with split seed 0, then validation is drawn from
  the rest with split seed 0.
- The validation size is ``min(validation_size, n_train // 10)``, where
  ``n_train`` counts the whole training set before any subset; it keeps small
  datasets mostly for training.
- ``train_subset`` then keeps the first n remaining training examples and
  ``test_subset`` the first n test examples, so the validation set does not
  depend on either. Within each split examples keep their file order.
- ``labels`` (semi-supervised training, labelled data sets only) then keeps
  the labels of n training examples, n / classes of each class: the first of
  each class in a permutation of the training split drawn with split seed 0,
  so a run with more labels keeps those of a run with fewer. Every other
  training label becomes -1 (unlabelled); validation and test keep theirs.
  ``labelled_per_batch`` (training pipeline) appends that many of the kept
  labelled images to every training batch, so a semi-supervised model sees
  its few labels at every step instead of once in a few hundred batches.

For Cartoon Set and folders the split is decided on the file list, and only the
files that end up in a split are decoded: a subset run (tests, smoke runs)
decodes a few images, not ten thousand, and gets exactly the examples a full
load followed by subsetting would give.

Memory: when the decoded images of a Cartoon Set / folder load (train +
validation + test, counted as S x S x 3 bytes each) would exceed
``memory_budget_mb`` (default 256 MB; holding them costs about twice that, the
array plus its TensorFlow copy), the training split is streamed from disk instead: its
``Split.x`` is a ``StreamedImages`` (file list, shape, dtype) and the training
pipeline decodes and resizes each batch's files in the same deterministic
per-epoch order, giving the same batches as the in-memory path. Every training
file is still decoded once at load time (and the verdict cached) so a bad file
is reported before training. Validation and test splits (a bounded fraction)
stay in memory: evaluation and figures index them freely.
"""

from __future__ import annotations

import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zoo.data import download as _download
from zoo.data.factors import GroundTruthData, PackedBinaryImages
from zoo.data.folder import StreamedImages, files_digest, list_image_files, load_images, scan_images
from zoo.data.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx
from zoo.data.sources import CARTOON_MIRROR_SIZES, CLASS_NAMES, DATASET_FOLDERS, IDX_SOURCES
from zoo.config import Config, bounded_field, choice_field
from zoo.errors import ZooError, suggest

DATASET_NAMES = ("mnist", "fashion_mnist", "cartoon", "sprites", "dsprites")
# Data sets with ground-truth factors (zoo.data.factors); their images are 64x64 binary.
FACTOR_DATASETS = ("sprites", "dsprites")
FACTOR_IMAGE_SIZE = 64
# Held out of a factor data set for the test split (the ELBO and IWAE are scored on it); the
# disentanglement metrics sample their own points from the whole factor grid.
FACTOR_TEST_SIZE = 10_000
FOLDER_PREFIX = "folder:"
BINARIZATIONS = ("dynamic", "static", "none", "auto")
DEFAULT_IMAGE_SIZE = 64
IDX_IMAGE_SIZE = 28
SPLIT_SEED = 0
MAX_IMAGE_SIZE = 1024
DEFAULT_DATA_DIR = Path("~/.zoo/datasets")

_CHOICES = ", ".join(DATASET_NAMES) + ", folder:PATH"


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _bad(field_name: str, value: object, allowed: str) -> ZooError:
    return ZooError(f"invalid data setting {field_name}={value!r}; it must be {allowed}")


@dataclass(frozen=True)
class DataConfig(Config):
    """What to load and how to split it; types and ranges are checked on creation (ZooError)."""

    kind = "data"

    name: str = "mnist"  # "mnist" | "fashion_mnist" | "cartoon" | "folder:PATH"
    data_dir: str | None = None  # None -> $ZOO_DATA_DIR, else ~/.zoo/datasets
    image_size: int | None = bounded_field(None, minimum=4, maximum=MAX_IMAGE_SIZE,
                                           help="cartoon/folder: square side (default 64); mnist/fashion: 28")
    binarization: str = choice_field("auto", BINARIZATIONS, help="auto: dynamic for Bernoulli models, else none")
    validation_size: int = bounded_field(5000, minimum=0, help="drawn from train with split seed 0")
    test_fraction: float = bounded_field(0.1, minimum=0.0, maximum=0.99, exclusive_minimum=True,
                                         help="cartoon/folder only: they have no official test split")
    train_subset: int | None = bounded_field(None, minimum=1, help="cap on train examples; unset = all")
    test_subset: int | None = bounded_field(None, minimum=1, help="first n test examples; unset = all")
    labels: int | None = bounded_field(None, minimum=1, help="training labels kept, balanced over the classes; the "
                                       "rest become -1 (unlabelled); unset = all")
    labelled_per_batch: int = bounded_field(0, minimum=0, help="with labels: this many labelled training images "
                                            "appended to every training batch, drawn afresh each step (0: none)")
    download: bool = True
    memory_budget_mb: int = bounded_field(
        256, minimum=0, help="cartoon/folder: above this decoded size (N x S x S x 3 bytes) the training split is "
        "streamed from disk (0: always)"
    )

    def validate(self) -> None:
        if not self.name:
            raise _bad("name", self.name, f"one of: {_CHOICES}")
        if self.name.startswith(FOLDER_PREFIX):
            if not self.name[len(FOLDER_PREFIX) :].strip():
                raise _bad("name", self.name, "folder:PATH with a non-empty PATH to a directory of images")
        elif self.name not in DATASET_NAMES:
            raise ZooError(f"unknown dataset '{self.name}'{suggest(self.name, DATASET_NAMES)}; "
                           f"choose one of: {_CHOICES}")
        if self.data_dir is not None and not self.data_dir:
            raise _bad("data_dir", self.data_dir, "a folder path, or unset to use $ZOO_DATA_DIR or ~/.zoo/datasets")
        if self.image_size is not None and self.is_idx and self.image_size != IDX_IMAGE_SIZE:
            raise _bad("image_size", self.image_size, f"unset or {IDX_IMAGE_SIZE} for {self.name} (its images are 28x28)")
        if self.image_size is not None and self.has_factors and self.image_size != FACTOR_IMAGE_SIZE:
            raise _bad("image_size", self.image_size,
                       f"unset or {FACTOR_IMAGE_SIZE} for {self.name} (its images are 64x64)")
        if self.labels is not None:
            classes = self.expected_num_classes
            if classes == 0:
                raise _bad("labels", self.labels, f"unset for {self.name}, which has no class labels to keep")
            if self.labels % classes:
                raise _bad("labels", self.labels, f"a multiple of {self.name}'s {classes} classes (the same number "
                           "of labels per class)")
        if self.labelled_per_batch:
            if self.labels is None:
                raise _bad("labelled_per_batch", self.labelled_per_batch,
                           "0 unless data.labels is set (every image is labelled without it)")
            if self.labelled_per_batch > self.labels:
                raise _bad("labelled_per_batch", self.labelled_per_batch,
                           f"at most data.labels = {self.labels} (a batch draws each labelled image once at most)")

    @property
    def expected_image_shape(self) -> tuple[int, int, int]:
        """The (height, width, channels) a model for this dataset is built for, known before loading.

        Folders are assumed RGB here; the loaded data has the final word.
        """
        size = self.resolved_image_size
        return (size, size, 1 if self.is_idx or self.has_factors else 3)

    @property
    def expected_num_classes(self) -> int:
        return len(CLASS_NAMES[self.name]) if self.is_idx else 0

    @property
    def is_idx(self) -> bool:
        """True for the datasets stored as IDX files (mnist, fashion_mnist)."""
        return self.name in IDX_SOURCES

    @property
    def has_factors(self) -> bool:
        """True for the data sets with ground-truth factors of variation (sprites, dsprites)."""
        return self.name in FACTOR_DATASETS

    @property
    def folder_path(self) -> Path | None:
        """The PATH of a ``folder:PATH`` dataset, else None."""
        if not self.name.startswith(FOLDER_PREFIX):
            return None
        return Path(self.name[len(FOLDER_PREFIX) :].strip()).expanduser()

    @property
    def resolved_image_size(self) -> int:
        """The side of the loaded images: 28 for IDX datasets, else ``image_size`` or 64."""
        if self.is_idx:
            return IDX_IMAGE_SIZE
        if self.has_factors:
            return FACTOR_IMAGE_SIZE
        return self.image_size if self.image_size is not None else DEFAULT_IMAGE_SIZE


@dataclass
class Split:
    """Images (uint8, NHWC) and labels (int32, (N,); zeros when unlabeled, -1 for a training image whose label
    ``DataConfig.labels`` withholds).

    ``x`` is an array, a ``StreamedImages`` for a training split streamed from disk, or a
    ``PackedBinaryImages`` (binary images kept as bits). ``factors`` holds each image's ground-truth
    factor indices (int32, (N, F)) for data sets that have them, else None.
    """

    x: np.ndarray | StreamedImages | PackedBinaryImages
    y: np.ndarray
    factors: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.factors is not None and (self.factors.dtype != np.int32 or self.factors.ndim != 2
                                         or len(self.factors) != len(self.x)):
            raise ValueError(f"Split.factors must be int32 (N, F) with N = {len(self.x)}, got "
                             f"{self.factors.dtype} {self.factors.shape}")
        if self.x.dtype != np.uint8 or self.x.ndim != 4:
            raise ValueError(f"Split.x must be uint8 NHWC, got {self.x.dtype} {self.x.shape}")
        if self.y.dtype != np.int32 or self.y.shape != (len(self.x),):
            raise ValueError(f"Split.y must be int32 of shape ({len(self.x)},), got {self.y.dtype} {self.y.shape}")

    def __len__(self) -> int:
        return len(self.x)


@dataclass
class ImageData:
    """A loaded dataset: three splits plus what a run manifest needs to identify it."""

    name: str
    train: Split
    validation: Split
    test: Split
    num_classes: int  # 10 for mnist/fashion_mnist, 0 when unlabeled
    class_names: list[str]
    image_shape: tuple[int, int, int]
    checksums: dict[str, str] = field(default_factory=dict)  # file -> md5; folders: file-list digest
    source: str = ""  # the directory the data was read from
    # The factor grid and renderer the disentanglement metrics sample from (sprites, dsprites), else None.
    ground_truth: GroundTruthData | None = None

    @property
    def factor_names(self) -> list[str]:
        return [] if self.ground_truth is None else self.ground_truth.factor_names


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path:
    """``data_dir``, else ``$ZOO_DATA_DIR``, else ``~/.zoo/datasets``.

    A folder the user named explicitly must exist (a typo should not trigger a
    download into a new folder); the default one is created when downloading.
    """
    if data_dir is not None:
        path, origin = Path(data_dir).expanduser(), "data_dir/--data-dir"
    elif os.environ.get("ZOO_DATA_DIR"):
        path, origin = Path(os.environ["ZOO_DATA_DIR"]).expanduser(), "ZOO_DATA_DIR"
    else:
        return DEFAULT_DATA_DIR.expanduser()
    if not path.exists():
        raise ZooError(f"data directory {path} (from {origin}) does not exist; create it or fix the path")
    if not path.is_dir():
        raise ZooError(f"data directory {path} (from {origin}) is not a folder; point it at a folder")
    return path


def load_dataset(config: DataConfig) -> ImageData:
    """Loads (downloading if allowed) and splits the dataset described by ``config``."""
    folder = config.folder_path
    if folder is not None:
        return _load_image_folder(config, config.name, folder.absolute(), prefix="")
    root = resolve_data_dir(config.data_dir)
    if config.has_factors:
        return _load_factor_dataset(config, root)
    if config.is_idx:
        return _load_idx(config, root / DATASET_FOLDERS[config.name])
    cartoon_root = root / DATASET_FOLDERS["cartoon"]
    image_folder = find_cartoon_folder(cartoon_root, config.resolved_image_size, download=config.download)
    return _load_image_folder(config, "cartoon", image_folder, prefix="cs")


def find_cartoon_folder(root: Path, image_size: int, *, download: bool = True) -> Path:
    """The folder to read Cartoon Set images from.

    In order: ``root/<s>/`` for the smallest mirror resolution s in (128, 256)
    with s >= image_size; else the official flat layout ``root/cs*.png``; else
    the official tarball, downloaded (if allowed) and unpacked into ``root``.
    """
    for size in CARTOON_MIRROR_SIZES:
        if size >= image_size and _download.has_images(root / str(size)):
            return root / str(size)
    flat_ready = _download.has_images(root) and not (root / _download.INCOMPLETE_MARKER).exists()
    if flat_ready:
        return root
    archive = root / _download.CARTOON_TARBALL.filename
    if not download and not archive.exists():
        looked = ", ".join(str(root / str(s)) for s in CARTOON_MIRROR_SIZES if s >= image_size)
        looked = f"{looked}, {root}" if looked else str(root)
        raise ZooError(
            f"Cartoon Set images (cs*.png) not found in {looked}, nor {archive.name}, and downloading is disabled; "
            f"set ZOO_DATA_DIR/--data-dir to a folder that holds cartoonset10k/, or allow downloads"
        )
    return _download.ensure_cartoon_release(root, download=download)


def _carve(count: int, take: int) -> tuple[np.ndarray, np.ndarray]:
    """Splits range(count) into (taken, rest) with the fixed split seed; both sorted."""
    order = np.random.default_rng(SPLIT_SEED).permutation(count)
    return np.sort(order[:take]), np.sort(order[take:])


def _keep_balanced_labels(labels: np.ndarray, count: int | None, class_names: list[str]) -> np.ndarray:
    """``labels`` with only ``count`` kept, count / classes of each class, and -1 everywhere else.

    Each class keeps its first images in one permutation of the split drawn with the split seed: the choice is
    the same in every run, and the images kept for n labels are among those kept for more.
    """
    if count is None:
        return labels
    per_class = count // len(class_names)
    if count > len(labels):
        raise _bad("labels", count, f"at most the {len(labels)} training images (after train_subset)")
    counts = np.bincount(labels, minlength=len(class_names))
    rarest = int(np.argmin(counts))
    fewest = int(counts[rarest])
    if fewest < per_class:
        raise _bad("labels", count, f"at most {len(class_names) * fewest}, {fewest} per class: the training split "
                   f"holds {fewest} images of class '{class_names[rarest]}' (after train_subset)")
    order = np.random.default_rng(SPLIT_SEED).permutation(len(labels))
    rows = np.concatenate([order[labels[order] == label][:per_class] for label in range(len(class_names))])
    withheld = np.full_like(labels, -1)
    withheld[rows] = labels[rows]
    return withheld


def _validation_count(config: DataConfig, n_train: int) -> int:
    return min(config.validation_size, n_train // 10)


def _load_idx(config: DataConfig, folder: Path) -> ImageData:
    remotes = IDX_SOURCES[config.name]
    paths = {role: _download.ensure_file(folder, remote, download=config.download) for role, remote in remotes.items()}
    arrays = {}
    for role, path in paths.items():
        magic = IMAGES_MAGIC if role.endswith("images") else LABELS_MAGIC
        arrays[role] = read_idx(path, expected_magic=magic)
    for part in ("train", "test"):
        images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        if images.shape[1:] != (IDX_IMAGE_SIZE, IDX_IMAGE_SIZE) or len(images) != len(labels):
            raise ZooError(
                f"{config.name} {part} files disagree: images {images.shape}, labels {labels.shape}; "
                f"delete {folder} to re-download"
            )
        if labels.size and labels.max() >= len(CLASS_NAMES[config.name]):
            raise ZooError(f"{config.name} {part} labels go up to {labels.max()}; delete {folder} to re-download")
    # Add the channel axis once: (N, 28, 28) -> (N, 28, 28, 1).
    train_x, train_y = arrays["train_images"][..., None], arrays["train_labels"].astype(np.int32)
    test_x, test_y = arrays["test_images"][..., None], arrays["test_labels"].astype(np.int32)
    val_idx, train_idx = _carve(len(train_x), _validation_count(config, len(train_x)))
    train_idx = train_idx[: config.train_subset]
    test_end = config.test_subset if config.test_subset is not None else len(test_x)
    return ImageData(
        name=config.name,
        train=Split(train_x[train_idx], _keep_balanced_labels(train_y[train_idx], config.labels,
                                                              CLASS_NAMES[config.name])),
        validation=Split(train_x[val_idx], train_y[val_idx]),
        test=Split(np.ascontiguousarray(test_x[:test_end]), test_y[:test_end].copy()),
        num_classes=len(CLASS_NAMES[config.name]),
        class_names=list(CLASS_NAMES[config.name]),
        image_shape=(IDX_IMAGE_SIZE, IDX_IMAGE_SIZE, 1),
        checksums={remote.filename: remote.md5 for remote in remotes.values()},
        source=str(folder.resolve()),
    )


def _load_factor_dataset(config: DataConfig, root: Path) -> ImageData:
    """sprites / dsprites: every grid point is one image; test and validation are carved at random (split seed 0).

    ``train_subset`` keeps a uniform random subset of the training points (split seed 0; sorted), not the first
    n: the grid is stored in factor order, so its first n points would all share a shape and a scale.
    """
    from zoo.data import sprites

    ground_truth = sprites.open_ground_truth(config.name, root, download=config.download)
    count = ground_truth.grid.num_points
    test_idx, train_pool = _carve(count, min(FACTOR_TEST_SIZE, count // 10))
    val_pos, train_pos = _carve(len(train_pool), _validation_count(config, len(train_pool)))
    val_idx, train_idx = train_pool[val_pos], train_pool[train_pos]
    if config.train_subset is not None and config.train_subset < len(train_idx):
        keep = np.random.default_rng(SPLIT_SEED).permutation(len(train_idx))[: config.train_subset]
        train_idx = train_idx[np.sort(keep)]
    test_idx = test_idx[: config.test_subset]

    def split(indices: np.ndarray, packed: bool) -> Split:
        factors = ground_truth.grid.to_factors(indices)
        pixels = ground_truth.packed_images(factors) if packed else ground_truth.images(factors)
        return Split(pixels, np.zeros(len(indices), dtype=np.int32), factors.astype(np.int32))

    return ImageData(
        name=config.name,
        train=split(train_idx, packed=True),
        validation=split(val_idx, packed=False),
        test=split(test_idx, packed=False),
        num_classes=0,
        class_names=[],
        image_shape=ground_truth.observation_shape,
        checksums=ground_truth.checksums,
        source=ground_truth.source,
        ground_truth=ground_truth,
    )


def _load_image_folder(config: DataConfig, name: str, folder: Path, *, prefix: str) -> ImageData:
    files = list_image_files(folder, prefix=prefix)
    if len(files) < 2:
        raise ZooError(
            f"{folder} holds {len(files)} image; a folder dataset needs at least 2 (one is held out for testing)"
        )
    n_test = min(len(files) - 1, max(1, round(len(files) * config.test_fraction)))
    test_idx, train_pool = _carve(len(files), n_test)
    val_pos, train_pos = _carve(len(train_pool), _validation_count(config, len(train_pool)))
    val_idx = train_pool[val_pos]
    train_idx = train_pool[train_pos][: config.train_subset]
    test_idx = test_idx[: config.test_subset]
    # Decode only the files that some split uses, once, in file order.
    needed = np.unique(np.concatenate([train_idx, val_idx, test_idx]))
    size = config.resolved_image_size
    stream = len(needed) * size * size * 3 > config.memory_budget_mb * 2**20
    if stream:
        needed = np.unique(np.concatenate([val_idx, test_idx]))
    images = load_images([files[i] for i in needed], size)
    train_x = None
    if stream:
        # Channels follow the folder-wide rule: one only if every image (streamed ones too) is grey.
        train_files = [files[i] for i in train_idx]
        train_grey = scan_images(train_files, size)  # also checks every file decodes, before training
        channels = 1 if images.shape[-1] == 1 and train_grey else 3
        if images.shape[-1] != channels:
            images = np.repeat(images, channels, axis=-1)  # grey decodes to equal R, G and B
        train_x = StreamedImages(train_files, size, channels)

    def split(indices: np.ndarray) -> Split:
        rows = np.searchsorted(needed, indices)
        return Split(images[rows], np.zeros(len(rows), dtype=np.int32))

    return ImageData(
        name=name,
        train=Split(train_x, np.zeros(len(train_idx), dtype=np.int32)) if stream else split(train_idx),
        validation=split(val_idx),
        test=split(test_idx),
        num_classes=0,
        class_names=[],
        image_shape=tuple(int(d) for d in images.shape[1:]),
        checksums={"file_list_sha256": files_digest(files)},
        source=str(folder.resolve()),
    )


__all__ = [
    "BINARIZATIONS",
    "DATASET_NAMES",
    "DataConfig",
    "FACTOR_DATASETS",
    "ImageData",
    "Split",
    "find_cartoon_folder",
    "load_dataset",
    "resolve_data_dir",
]
