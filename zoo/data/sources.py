"""Where each dataset file comes from, and how to recognise a good copy.

MNIST and Fashion-MNIST are four gzipped IDX files each. Their sizes and md5
sums are the published ones, so a local copy is checked byte for byte before use.

Cartoon Set 10k is a single tarball. Google publishes no checksum for it, so the
zoo cannot authenticate the first download. What it does instead
(trust-on-first-use): after the first download (or the first time it sees a
tarball that the user put in place) it records the file's sha256 in a
``cartoonset10k.tgz.sha256`` file beside it, and on every later use it checks
the tarball against that record. This catches a copy that was damaged or swapped
later on, but not one that was already bad when it was first recorded.

dSprites is one npz in DeepMind's GitHub repository. DeepMind publishes no
checksum, and TensorFlow Datasets records one only for the HDF5 twin of the file
(tensorflow_datasets/datasets/dsprites/checksums.tsv: 28,024,106 bytes, sha256
729fa22e...a745bb). The md5 below is the one that independent dSprites loaders
check the npz against (the same value in several unrelated projects, one of
them pinning the URL to a dsprites-dataset commit); none records the size, so
only the md5 is checked.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RemoteFile:
    """One downloadable file.

    ``urls`` are tried in order (official source first, then mirrors). ``md5``
    and ``size`` are ``None`` when the publisher gives none; such a file is
    checked against a ``.sha256`` file recorded beside it instead.
    """

    filename: str
    urls: tuple[str, ...]
    md5: str | None = None
    size: int | None = None

    @property
    def has_published_checksum(self) -> bool:
        return self.md5 is not None


_MNIST_BASES = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
)
_FASHION_BASES = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)


def _idx_file(bases: tuple[str, ...], filename: str, md5: str, size: int) -> RemoteFile:
    return RemoteFile(filename=filename, urls=tuple(base + filename for base in bases), md5=md5, size=size)


# The keys of each inner table are the roles the loader asks for.
IDX_SOURCES: dict[str, dict[str, RemoteFile]] = {
    "mnist": {
        "train_images": _idx_file(
            _MNIST_BASES, "train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873", 9_912_422
        ),
        "train_labels": _idx_file(
            _MNIST_BASES, "train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432", 28_881
        ),
        "test_images": _idx_file(
            _MNIST_BASES, "t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3", 1_648_877
        ),
        "test_labels": _idx_file(
            _MNIST_BASES, "t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c", 4_542
        ),
    },
    "fashion_mnist": {
        "train_images": _idx_file(
            _FASHION_BASES, "train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d", 26_421_880
        ),
        "train_labels": _idx_file(
            _FASHION_BASES, "train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe", 29_515
        ),
        "test_images": _idx_file(
            _FASHION_BASES, "t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79", 4_422_102
        ),
        "test_labels": _idx_file(
            _FASHION_BASES, "t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310", 5_148
        ),
    },
}

# The official link from google.github.io/cartoonset. storage.cloud.google.com
# may answer an anonymous client with a sign-in page, so the same object in the
# same public bucket is also tried through storage.googleapis.com, the endpoint
# for anonymous reads. No md5 or size is published (see the module docstring).
CARTOON_TARBALL = RemoteFile(
    filename="cartoonset10k.tgz",
    urls=(
        "https://storage.cloud.google.com/cartoonset_public_files/cartoonset10k.tgz",
        "https://storage.googleapis.com/cartoonset_public_files/cartoonset10k.tgz",
    ),
)

# DeepMind's file (see the module docstring for where the md5 comes from). The
# "?raw=true" link (the one TFDS and most loaders use) redirects to raw content; the
# repository has since moved to google-deepmind/, tried second.
_DSPRITES_NAME = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
DSPRITES_FILE = RemoteFile(
    filename=_DSPRITES_NAME,
    urls=(
        f"https://github.com/deepmind/dsprites-dataset/blob/master/{_DSPRITES_NAME}?raw=true",
        f"https://raw.githubusercontent.com/google-deepmind/dsprites-dataset/master/{_DSPRITES_NAME}",
    ),
    md5="7da33b31b13a06f4b04a70402ce90c2e",
)

# Folder name under the data directory for each dataset.
DATASET_FOLDERS = {
    "mnist": "mnist",
    "fashion_mnist": "fashion_mnist",
    "cartoon": "cartoonset10k",
    "dsprites": "dsprites",
}

# Resolutions a local mirror may hold under cartoonset10k/<size>/.
CARTOON_MIRROR_SIZES = (128, 256)

CLASS_NAMES = {
    "mnist": [str(digit) for digit in range(10)],
    "fashion_mnist": [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ],
}
