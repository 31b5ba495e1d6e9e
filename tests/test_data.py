"""Tests for zoo.data: sources, verification, IDX, image folders, splits, pipelines."""

from __future__ import annotations

import gzip
import io
import os
import shutil
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from zoo.data import (
    DataConfig,
    RemoteFile,
    Split,
    binarize_array,
    ensure_file,
    eval_dataset,
    extract_tarball,
    find_cartoon_folder,
    list_image_files,
    load_dataset,
    load_images,
    read_idx,
    resolve_binarization,
    steps_per_epoch,
    train_dataset,
)
from zoo.data import download as download_module
from zoo.data import folder as folder_module
from zoo.data.idx import IMAGES_MAGIC, LABELS_MAGIC
from zoo.data.sources import IDX_SOURCES
from zoo.errors import ZooError

# md5 sums as listed in the dataset mirror's README.md.
README_MD5 = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}
MNIST_LABELS = IDX_SOURCES["mnist"]["train_labels"]


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory, monkeypatch):
    # Image caches go to a temporary folder; the user's ZOO_DATA_DIR must not leak in.
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("ZOO_DATA_DIR", raising=False)


@pytest.fixture(scope="module")
def mnist(shared_data_dir):
    return load_dataset(DataConfig(name="mnist", data_dir=str(shared_data_dir)))


def _png(array: np.ndarray) -> bytes:
    return tf.io.encode_png(tf.constant(array, dtype=tf.uint8)).numpy()


def _write_png(path: Path, array: np.ndarray) -> Path:
    path.write_bytes(_png(array))
    return path


def _idx_gz(path: Path, magic: int, dims: tuple[int, ...], payload: bytes) -> Path:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)
    path.write_bytes(gzip.compress(header + payload))
    return path


def _batches(dataset) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(x.numpy(), y.numpy()) for x, y in dataset]


# --- official datasets from the mirror ----------------------------------------------------------


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_idx_dataset_loads_with_official_shapes_and_checksums(shared_data_dir, name):
    data = load_dataset(DataConfig(name=name, data_dir=str(shared_data_dir)))
    assert (len(data.train), len(data.validation), len(data.test)) == (55000, 5000, 10000)
    for split in (data.train, data.validation, data.test):
        assert split.x.dtype == np.uint8 and split.x.shape[1:] == (28, 28, 1)
        assert split.y.dtype == np.int32 and split.y.min() == 0 and split.y.max() == 9
    assert data.image_shape == (28, 28, 1)
    assert data.num_classes == 10 and len(data.class_names) == 10
    assert data.checksums == README_MD5[name]
    assert Path(data.source) == (shared_data_dir / name).resolve()
    assert set(np.unique(data.test.y)) == set(range(10))
    # Real images, not blanks: ink covers roughly 10-30% of a digit or garment.
    assert 20 < data.train.x.mean() < 100


def test_validation_split_ignores_training_seed_and_subset(shared_data_dir, mnist):
    np.random.seed(123)
    tf.random.set_seed(123)
    subset = load_dataset(DataConfig(name="mnist", data_dir=str(shared_data_dir), train_subset=1000, test_subset=50))
    np.testing.assert_array_equal(subset.validation.x, mnist.validation.x)
    np.testing.assert_array_equal(subset.validation.y, mnist.validation.y)
    # The subset is the first examples of the same remaining training set.
    np.testing.assert_array_equal(subset.train.x, mnist.train.x[:1000])
    np.testing.assert_array_equal(subset.test.y, mnist.test.y[:50])
    assert len(subset.test) == 50


def test_data_dir_falls_back_to_environment(shared_data_dir, monkeypatch):
    monkeypatch.setenv("ZOO_DATA_DIR", str(shared_data_dir))
    data = load_dataset(DataConfig(name="mnist", train_subset=10, test_subset=10, validation_size=0))
    assert len(data.train) == 10 and len(data.validation) == 0 and data.validation.x.shape == (0, 28, 28, 1)


def test_missing_data_dir_is_a_user_error(tmp_path, monkeypatch):
    with pytest.raises(ZooError, match="does not exist"):
        load_dataset(DataConfig(name="mnist", data_dir=str(tmp_path / "nope")))
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path / "typo"))
    with pytest.raises(ZooError, match="ZOO_DATA_DIR"):
        load_dataset(DataConfig(name="mnist"))


# --- verification and download ------------------------------------------------------------------


def test_flipped_byte_fails_md5(shared_data_dir, tmp_path):
    data = bytearray((shared_data_dir / "mnist" / MNIST_LABELS.filename).read_bytes())
    data[100] ^= 0xFF
    (tmp_path / MNIST_LABELS.filename).write_bytes(bytes(data))
    with pytest.raises(ZooError, match="md5") as info:
        ensure_file(tmp_path, MNIST_LABELS)
    message = str(info.value)
    assert MNIST_LABELS.filename in message and MNIST_LABELS.md5 in message
    assert "delete it to re-download" in message and "\n" not in message


def test_truncated_gzip_is_reported_as_corrupt(shared_data_dir, tmp_path):
    data = (shared_data_dir / "mnist" / MNIST_LABELS.filename).read_bytes()
    truncated = tmp_path / MNIST_LABELS.filename
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ZooError, match="corrupt or truncated"):
        read_idx(truncated, expected_magic=LABELS_MAGIC)
    with pytest.raises(ZooError, match="md5"):  # and the checksum catches it before reading
        ensure_file(tmp_path, MNIST_LABELS)
    not_gzip = tmp_path / "plain.gz"
    not_gzip.write_bytes(b"<html>not found</html>")
    with pytest.raises(ZooError, match="corrupt or truncated"):
        read_idx(not_gzip)


def test_idx_header_checks(tmp_path):
    good = _idx_gz(tmp_path / "good.gz", IMAGES_MAGIC, (2, 3, 4), bytes(range(24)))
    np.testing.assert_array_equal(read_idx(good, expected_magic=IMAGES_MAGIC), np.arange(24).reshape(2, 3, 4))
    with pytest.raises(ZooError, match="magic 0x00000803, expected 0x00000801"):
        read_idx(good, expected_magic=LABELS_MAGIC)
    floats = _idx_gz(tmp_path / "floats.gz", 0x00000D01, (2,), bytes(8))
    with pytest.raises(ZooError, match="magic"):
        read_idx(floats)
    short = _idx_gz(tmp_path / "short.gz", IMAGES_MAGIC, (2, 3, 4), bytes(20))
    with pytest.raises(ZooError, match="declares dimensions"):
        read_idx(short)
    long = _idx_gz(tmp_path / "long.gz", LABELS_MAGIC, (3,), bytes(4))
    with pytest.raises(ZooError, match="more than 3"):
        read_idx(long)


def test_missing_file_without_download_names_it(tmp_path):
    with pytest.raises(ZooError, match="downloading is disabled") as info:
        ensure_file(tmp_path / "mnist", MNIST_LABELS, download=False)
    assert MNIST_LABELS.filename in str(info.value) and "ZOO_DATA_DIR" in str(info.value)
    with pytest.raises(ZooError, match="train-images-idx3-ubyte.gz"):
        load_dataset(DataConfig(name="mnist", data_dir=str(tmp_path), download=False))


@pytest.fixture
def fake_network(monkeypatch):
    """urlopen that fails for http(s) (no network) and records what the target looked like mid-download."""
    real_urlopen = urllib.request.urlopen
    seen = {"urls": [], "target_existed": []}

    def fake_urlopen(request, timeout=None):
        url = request.full_url if isinstance(request, urllib.request.Request) else request
        seen["urls"].append(url)
        if not url.startswith("file:"):
            raise urllib.error.URLError("simulated: network unreachable")
        response = real_urlopen(url, timeout=timeout)
        original_read = response.read

        def read(size=-1):
            target = seen.get("target")
            seen["target_existed"].append(target is not None and target.exists())
            return original_read(size)

        response.read = read
        return response

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    return seen


def test_download_tries_urls_in_order_and_lands_atomically(shared_data_dir, tmp_path, fake_network):
    served = tmp_path / "server" / MNIST_LABELS.filename
    served.parent.mkdir()
    shutil.copy(shared_data_dir / "mnist" / MNIST_LABELS.filename, served)
    remote = RemoteFile(
        MNIST_LABELS.filename,
        urls=("https://unreachable.invalid/" + MNIST_LABELS.filename, served.as_uri()),
        md5=MNIST_LABELS.md5,
        size=MNIST_LABELS.size,
    )
    target_dir = tmp_path / "data" / "mnist"
    fake_network["target"] = target_dir / remote.filename
    path = ensure_file(target_dir, remote)
    assert path == target_dir / remote.filename
    assert fake_network["urls"] == list(remote.urls)
    # While bytes were arriving the final name did not exist yet.
    assert fake_network["target_existed"] and not any(fake_network["target_existed"])
    assert sorted(os.listdir(target_dir)) == [remote.filename]  # no temporary file left
    assert download_module.file_digest(path, "md5") == MNIST_LABELS.md5


def test_download_with_wrong_checksum_leaves_nothing(shared_data_dir, tmp_path, fake_network):
    served = tmp_path / "served.gz"
    shutil.copy(shared_data_dir / "mnist" / MNIST_LABELS.filename, served)
    remote = RemoteFile(MNIST_LABELS.filename, urls=(served.as_uri(),), md5="0" * 32, size=MNIST_LABELS.size)
    target_dir = tmp_path / "data"
    with pytest.raises(ZooError, match="failed verification"):
        ensure_file(target_dir, remote)
    assert os.listdir(target_dir) == []


def test_network_failure_says_what_is_missing_and_where(tmp_path, fake_network):
    with pytest.raises(ZooError) as info:
        ensure_file(tmp_path / "mnist", MNIST_LABELS)
    message = str(info.value)
    assert MNIST_LABELS.filename in message and str(tmp_path / "mnist") in message
    assert "ZOO_DATA_DIR" in message and "network unreachable" in message and "\n" not in message
    assert fake_network["urls"] == list(MNIST_LABELS.urls)


def test_unpublished_checksum_is_recorded_then_enforced(tmp_path):
    archive = tmp_path / "thing.tgz"
    archive.write_bytes(b"first version")
    remote = RemoteFile("thing.tgz", urls=("https://unreachable.invalid/thing.tgz",))
    ensure_file(tmp_path, remote)
    record = tmp_path / "thing.tgz.sha256"
    assert record.read_text().split()[0] == download_module.file_digest(archive, "sha256")
    ensure_file(tmp_path, remote)  # unchanged: fine
    archive.write_bytes(b"swapped version")
    with pytest.raises(ZooError, match="sha256"):
        ensure_file(tmp_path, remote)


def _tarball(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("bad_name", ["../evil.png", "/tmp/zoo-evil.png", "ok/../../evil.png"])
def test_extraction_refuses_escaping_members(tmp_path, bad_name):
    archive = _tarball(tmp_path / "bad.tgz", {"fine.png": b"x", bad_name: b"evil"})
    destination = tmp_path / "out"
    destination.mkdir()
    with pytest.raises(ZooError, match="refusing to unpack"):
        extract_tarball(archive, destination)
    assert os.listdir(destination) == [] and not (tmp_path / "evil.png").exists()


def test_cartoon_downloads_and_unpacks_the_official_layout(tmp_path, fake_network, monkeypatch):
    rng = np.random.default_rng(0)
    members = {}
    for i in range(5):
        members[f"cartoonset10k/cs{i}.png"] = _png(rng.integers(0, 256, (20, 20, 3)))
        members[f"cartoonset10k/cs{i}.csv"] = b'"face_shape", 1, 7\n'
    served = _tarball(tmp_path / "served.tgz", members)
    monkeypatch.setattr(download_module, "CARTOON_TARBALL", RemoteFile("cartoonset10k.tgz", urls=(served.as_uri(),)))
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    data = load_dataset(DataConfig(name="cartoon", data_dir=str(data_dir), image_size=16, validation_size=0))
    root = data_dir / "cartoonset10k"
    assert data.source == str(root.resolve())
    assert (len(data.train), len(data.test), data.image_shape) == (4, 1, (16, 16, 3))
    assert (root / "cartoonset10k.tgz.sha256").exists() and not (root / ".extract-incomplete").exists()
    assert sorted(p.name for p in root.glob("cs*.png")) == [f"cs{i}.png" for i in range(5)]


def test_cartoon_without_data_or_download_is_a_user_error(tmp_path):
    with pytest.raises(ZooError, match="Cartoon Set images"):
        load_dataset(DataConfig(name="cartoon", data_dir=str(tmp_path), download=False))


# --- image folders ------------------------------------------------------------------------------


def test_folder_of_mixed_images_is_resized_to_one_shape(tmp_path):
    rng = np.random.default_rng(1)
    _write_png(tmp_path / "a.png", rng.integers(0, 256, (40, 40, 3)))
    _write_png(tmp_path / "b.png", rng.integers(0, 256, (10, 30, 1)))  # grey, not square
    _write_png(tmp_path / "c.png", np.zeros((16, 16, 4)))  # fully transparent
    jpeg = tf.io.encode_jpeg(tf.constant(rng.integers(0, 256, (50, 20, 3)), tf.uint8))
    (tmp_path / "d.jpg").write_bytes(jpeg.numpy())
    (tmp_path / "notes.csv").write_text("ignored")
    files = list_image_files(tmp_path)
    assert [f.path.name for f in files] == ["a.png", "b.png", "c.png", "d.jpg"]
    images = load_images(files, 16)
    assert images.shape == (4, 16, 16, 3) and images.dtype == np.uint8
    assert (images[2] == 255).all()  # transparency composites over white
    assert (images[1, ..., 0] == images[1, ..., 2]).all()  # grey stays grey inside RGB
    same_size = load_images(files[2:3], 16, use_cache=False)
    np.testing.assert_array_equal(same_size[0], images[2])


def test_all_grey_folder_keeps_one_channel(tmp_path):
    _write_png(tmp_path / "a.png", np.full((8, 8, 1), 10))
    _write_png(tmp_path / "b.png", np.stack([np.full((8, 8), 200), np.full((8, 8), 255)], axis=-1))  # grey + alpha
    _write_png(tmp_path / "c.png", np.full((8, 8, 2), 100))  # half transparent over white: 100*t + 255*(1-t)
    images = load_images(list_image_files(tmp_path), 8)
    assert images.shape == (3, 8, 8, 1)
    np.testing.assert_array_equal(images[:, 0, 0, 0], [10, 200, round(100 * 100 / 255 + 255 * 155 / 255)])


def test_non_image_file_is_named(tmp_path):
    _write_png(tmp_path / "a.png", np.zeros((8, 8, 3)))
    (tmp_path / "x.png").write_text("this is not a png")
    with pytest.raises(ZooError, match="x.png") as info:
        load_images(list_image_files(tmp_path), 8)
    assert "\n" not in str(info.value)


def test_empty_or_missing_folder_is_a_user_error(tmp_path):
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(ZooError, match="holds no images"):
        list_image_files(tmp_path)
    with pytest.raises(ZooError, match="does not exist"):
        load_dataset(DataConfig(name=f"folder:{tmp_path / 'missing'}"))


def test_folder_cache_is_reused_and_invalidated(tmp_path, monkeypatch):
    for i in range(3):
        _write_png(tmp_path / f"{i}.png", np.full((12, 12, 3), 50 * i))
    first = load_images(list_image_files(tmp_path), 6)

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded although the cache was valid")

    monkeypatch.setattr(folder_module, "_decode_files", no_decoding)
    np.testing.assert_array_equal(load_images(list_image_files(tmp_path), 6), first)
    _write_png(tmp_path / "1.png", np.full((12, 12, 3), 7))  # new size/mtime -> new key
    with pytest.raises(AssertionError, match="decoded"):
        load_images(list_image_files(tmp_path), 6)


def test_folder_dataset_splits(tmp_path):
    for i in range(30):
        _write_png(tmp_path / f"img{i:02d}.png", np.full((8, 8, 3), i))
    config = DataConfig(name=f"folder:{tmp_path}", image_size=8, validation_size=2, test_fraction=0.2)
    data = load_dataset(config)
    assert (len(data.train), len(data.validation), len(data.test)) == (22, 2, 6)
    assert data.num_classes == 0 and data.class_names == [] and not data.train.y.any()
    values = np.concatenate([s.x[:, 0, 0, 0] for s in (data.train, data.validation, data.test)])
    assert sorted(values) == list(range(30))  # a partition of the files
    subset = load_dataset(
        DataConfig(
            name=f"folder:{tmp_path}", image_size=8, validation_size=2, test_fraction=0.2, train_subset=5, test_subset=3
        )
    )
    np.testing.assert_array_equal(subset.validation.x, data.validation.x)
    np.testing.assert_array_equal(subset.train.x, data.train.x[:5])
    np.testing.assert_array_equal(subset.test.x, data.test.x[:3])
    assert set(data.checksums) == {"file_list_sha256"}


def test_cartoon_from_mirror_decodes_only_the_subset(shared_data_dir):
    config = DataConfig(
        name="cartoon", data_dir=str(shared_data_dir), train_subset=12, test_subset=6, validation_size=4
    )
    data = load_dataset(config)
    assert Path(data.source) == (shared_data_dir / "cartoonset10k" / "128").resolve()
    assert (len(data.train), len(data.validation), len(data.test)) == (12, 4, 6)
    assert data.image_shape == (64, 64, 3) and data.train.x.dtype == np.uint8
    assert data.num_classes == 0 and not data.test.y.any()
    assert data.train.x[:, 0, 0].min() > 200  # white background survives the resize


def test_cartoon_picks_the_smallest_sufficient_mirror_resolution(tmp_path):
    root = tmp_path / "cartoonset10k"
    for size in ("128", "256"):
        (root / size).mkdir(parents=True)
        (root / size / "cs1.png").write_bytes(b"")
    assert find_cartoon_folder(root, 64, download=False) == root / "128"
    assert find_cartoon_folder(root, 200, download=False) == root / "256"
    (root / "cs1.png").write_bytes(b"")
    assert find_cartoon_folder(root, 500, download=False) == root


# --- pipelines ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def toy_split():
    rng = np.random.default_rng(7)
    return Split(rng.integers(0, 256, (100, 6, 6, 1), dtype=np.uint8), np.arange(100, dtype=np.int32))


def _train(split, **kwargs):
    options = dict(batch_size=16, seed=3, start_epoch=0, epochs=3, binarization="dynamic")
    options.update(kwargs)
    return _batches(train_dataset(split, **options))


def test_training_batches_are_a_function_of_seed_and_epoch(toy_split):
    first, second = _train(toy_split), _train(toy_split)
    assert len(first) == 3 * steps_per_epoch(toy_split, 16) == 18
    for (x1, y1), (x2, y2) in zip(first, second):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
    assert first[0][0].shape == (16, 6, 6, 1) and first[0][0].dtype == np.float32 and first[0][1].dtype == np.int32
    other_seed = _train(toy_split, seed=4, epochs=1)
    assert not np.array_equal(other_seed[0][1], first[0][1])


def test_resumed_run_sees_the_same_batches(toy_split):
    full = _train(toy_split)
    resumed = _train(toy_split, start_epoch=1)
    steps = steps_per_epoch(toy_split, 16)
    assert len(resumed) == 2 * steps
    for (x1, y1), (x2, y2) in zip(full[steps:], resumed):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)


def test_epochs_differ_in_order_and_noise(toy_split):
    batches = _train(toy_split, epochs=2)
    steps = steps_per_epoch(toy_split, 16)
    orders = [np.concatenate([y for _, y in batches[e * steps : (e + 1) * steps]]) for e in range(2)]
    for order in orders:
        assert len(set(order)) == len(order) == steps * 16  # no repeats, remainder dropped
    assert not np.array_equal(orders[0], orders[1])
    # The same example gets different dynamic samples in different epochs.
    samples = [{}, {}]
    for e in range(2):
        for x, y in batches[e * steps : (e + 1) * steps]:
            samples[e].update(zip(y.tolist(), x))
    shared = sorted(set(samples[0]) & set(samples[1]))
    assert any(not np.array_equal(samples[0][i], samples[1][i]) for i in shared)


def test_dynamic_binarisation_matches_grey_levels(mnist):
    # Labels replaced by row numbers so each sample can be matched to its grey image.
    indexed = Split(mnist.validation.x, np.arange(len(mnist.validation), dtype=np.int32))
    batches = _batches(train_dataset(indexed, batch_size=500, seed=0, start_epoch=0, epochs=1, binarization="dynamic"))
    x = np.concatenate([b for b, _ in batches])
    grey = np.concatenate([indexed.x[y] for _, y in batches])
    assert set(np.unique(x)) == {0.0, 1.0}
    assert abs(x.mean() - grey.mean() / 255.0) < 0.002
    # Saturated pixels are deterministic: black stays 0 and white stays 1.
    assert not x[grey == 0].any() and x[grey == 255].all()


def test_static_and_none_modes(toy_split):
    static = _train(toy_split, binarization="static", epochs=2)
    reference = binarize_array(toy_split.x, 0)
    for x, y in static:
        np.testing.assert_array_equal(x, reference[y])
    plain = _train(toy_split, binarization="none", epochs=1)
    for x, y in plain:
        np.testing.assert_allclose(x, toy_split.x[y] / 255.0, rtol=1e-6)


def test_eval_dataset_is_fixed_and_keeps_the_last_batch(toy_split):
    first = _batches(eval_dataset(toy_split, batch_size=32, binarization="dynamic"))
    again = _batches(eval_dataset(toy_split, batch_size=32, binarization="static"))
    assert [len(y) for _, y in first] == [32, 32, 32, 4]
    for (x1, y1), (x2, y2) in zip(first, again):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(np.concatenate([y for _, y in first]), toy_split.y)
    plain = np.concatenate([x for x, _ in _batches(eval_dataset(toy_split, batch_size=32, binarization="none"))])
    np.testing.assert_allclose(plain, toy_split.x / 255.0, rtol=1e-6)


def test_binarize_array_prefix_is_stable(toy_split):
    full = binarize_array(toy_split.x, 5)
    np.testing.assert_array_equal(binarize_array(toy_split.x[:10], 5), full[:10])
    assert full.dtype == np.float32 and not np.array_equal(binarize_array(toy_split.x, 6), full)


def test_steps_and_binarisation_resolution(toy_split):
    assert steps_per_epoch(toy_split, 16) == 6 and steps_per_epoch(toy_split, 100) == 1
    with pytest.raises(ZooError, match="fewer than one batch"):
        steps_per_epoch(toy_split, 101)
    assert resolve_binarization("auto", True) == "dynamic"
    assert resolve_binarization("auto", False) == "none"
    assert resolve_binarization("static", False) == "static"
    with pytest.raises(ZooError, match="binarization"):
        resolve_binarization("sometimes", True)


# --- config validation --------------------------------------------------------------------------


def test_unknown_dataset_lists_the_choices():
    with pytest.raises(ZooError) as info:
        DataConfig(name="cifar10")
    assert str(info.value) == ("unknown dataset 'cifar10'; choose one of: mnist, fashion_mnist, cartoon, sprites, "
                               "dsprites, folder:PATH")


def test_mistyped_dataset_gets_a_suggestion():
    with pytest.raises(ZooError, match=r"unknown dataset 'fashion-mnist' \(did you mean 'fashion_mnist'\?\)"):
        DataConfig(name="fashion-mnist")


@pytest.mark.parametrize(
    ("field", "value", "extra"),
    [
        ("validation_size", -1, {}),
        ("image_size", 32, {}),  # mnist images are 28x28
        ("image_size", 2, {"name": "cartoon"}),
        ("binarization", "always", {}),
        ("test_fraction", 1.5, {}),
        ("train_subset", 0, {}),
        ("test_subset", 2.5, {}),
        ("name", "folder:", {}),
        ("download", "yes", {}),
    ],
)
def test_config_errors_name_the_field_value_and_choices(field, value, extra):
    with pytest.raises(ZooError) as info:
        DataConfig(**{field: value, **extra})
    message = str(info.value)
    # One line that names the field and the bad value.
    assert field in message and repr(value) in message and "\n" not in message


def test_config_defaults():
    assert DataConfig(image_size=28).resolved_image_size == 28
    assert DataConfig(name="cartoon").resolved_image_size == 64
    assert DataConfig(name="folder:~/pics").folder_path == Path("~/pics").expanduser()
