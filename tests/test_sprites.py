"""Tests for zoo.data.sprites: the factor grid, the procedural renderer, packed images, the dSprites file reader."""

from __future__ import annotations

import hashlib
import zipfile

import numpy as np
import pytest

from zoo.data import sprites
from zoo.data.factors import FactorGrid, PackedBinaryImages
from zoo.data.sources import DATASET_FOLDERS, DSPRITES_FILE, RemoteFile
from zoo.errors import ZooError

GRID = sprites.FACTOR_GRID
STEP_PX = sprites.POSITION_SPAN / (GRID.sizes[3] - 1)  # centre shift per position index


def factors(shape=0, scale=5, orientation=0, x=16, y=16) -> np.ndarray:
    """A (N, 5) factor array; the arguments are scalars or arrays, broadcast together and flattened."""
    columns = np.broadcast_arrays(*(np.atleast_1d(v) for v in (shape, scale, orientation, x, y)))
    return np.stack(columns, axis=-1).reshape(-1, 5).astype(np.int64)


def random_factors(num: int, seed: int = 0) -> np.ndarray:
    return GRID.sample_factors(num, np.random.RandomState(seed))


def centroid(image: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(image)
    return np.array([cols.mean(), rows.mean()])


# --- factor grid ---------------------------------------------------------------------------------------------


def test_grid_round_trips_the_whole_grid_in_dsprites_order():
    assert GRID.names == ("shape", "scale", "orientation", "position_x", "position_y")
    assert GRID.num_points == 737_280
    index = np.arange(GRID.num_points)
    all_factors = GRID.to_factors(index)
    np.testing.assert_array_equal(GRID.to_index(all_factors), index)
    # Last factor fastest: the same order as enumerating every combination with nested loops.
    nested = np.stack(np.meshgrid(*(np.arange(s) for s in GRID.sizes), indexing="ij"), -1).reshape(-1, 5)
    np.testing.assert_array_equal(all_factors, nested)


def test_sample_factors_draws_one_randint_per_factor_in_order():
    drawn = sprites.SpritesData().sample_factors(500, np.random.RandomState(7))
    expected_state = np.random.RandomState(7)
    expected = np.stack([expected_state.randint(size, size=500) for size in GRID.sizes], axis=1)
    np.testing.assert_array_equal(drawn, expected)


# --- renderer ------------------------------------------------------------------------------------------------


def test_images_are_binary_64x64_and_never_empty():
    images = sprites.render_sprites(random_factors(300))
    assert images.shape == (300, 64, 64) and images.dtype == np.uint8
    assert set(np.unique(images)) <= {0, 1}
    assert images.reshape(300, -1).sum(axis=1).min() > 0


def test_windowed_rendering_equals_evaluating_the_whole_canvas():
    corners = factors(np.arange(3)[:, None], 5, np.arange(40)[None, :], 31, 0)
    chosen = np.concatenate([random_factors(400, seed=1), corners, factors(2, 5, 9, 0, 31)])
    scale, x, y = (sprites.FACTOR_VALUES[i][chosen[:, i]] for i in (1, 3, 4))
    angle = sprites.FACTOR_VALUES[2][chosen[:, 2]]
    whole = sprites._render(chosen[:, 0], scale, np.cos(angle), np.sin(angle), x, y, window=64)
    windowed = sprites._render(chosen[:, 0], scale, np.cos(angle), np.sin(angle), x, y)
    np.testing.assert_array_equal(windowed, whole)


def test_largest_sprites_stay_inside_the_canvas_at_every_orientation():
    edge = factors(np.arange(3)[:, None, None], 5, np.arange(40)[None, :, None],
                   np.array([0, 31, 0, 31])[None, None, :], np.array([0, 0, 31, 31])[None, None, :])
    images = sprites.render_sprites(edge)
    border = images[:, [0, -1], :].sum() + images[:, :, [0, -1]].sum()
    assert border == 0


@pytest.mark.parametrize("shape", range(3))
def test_area_grows_with_scale(shape):
    for orientation in (0, 7, 13, 26):
        areas = sprites.render_sprites(factors(shape, np.arange(6), orientation, 16, 16)).reshape(6, -1).sum(1)
        assert np.all(np.diff(areas) > 0), (orientation, areas)


@pytest.mark.parametrize("shape", range(3))
def test_position_moves_the_centroid_by_the_expected_pixels(shape):
    steps = np.array([0, 1, 5, 16, 31])
    along_x = sprites.render_sprites(factors(shape, 3, 11, steps, 8))
    along_y = sprites.render_sprites(factors(shape, 3, 11, 8, steps))
    for images, axis in ((along_x, 0), (along_y, 1)):
        moved = np.array([centroid(image) for image in images])
        np.testing.assert_allclose(moved[:, axis] - moved[0, axis], steps * STEP_PX, atol=1.0)
        np.testing.assert_allclose(moved[:, 1 - axis], moved[0, 1 - axis], atol=0.5)  # the other axis stays
    assert STEP_PX >= 1.0  # every position step is a visible shift, as in dSprites


def test_quarter_turn_leaves_the_square_and_changes_the_heart():
    square = sprites.render_sprite_values(0, 1.0, np.array([0.0, np.pi / 2]), 0.37, 0.61)
    heart = sprites.render_sprite_values(2, 1.0, np.array([0.0, np.pi / 2]), 0.37, 0.61)
    assert (square[0] != square[1]).sum() <= 4
    assert (heart[0] != heart[1]).sum() > 0.15 * heart[0].sum()


@pytest.mark.parametrize("shape", range(3))
def test_orientation_turns_counter_clockwise_about_the_centre(shape):
    # At position 0.5 the centre is the canvas centre, where turning the canvas maps pixels onto pixels.
    start, turned = sprites.render_sprite_values(shape, 0.8, np.array([0.3, 0.3 + np.pi / 2]), 0.5, 0.5)
    np.testing.assert_array_equal(turned, np.rot90(start))  # rot90: counter-clockwise as displayed


def test_the_three_shapes_differ_and_full_turns_repeat():
    square, ellipse, heart = sprites.render_sprites(factors(np.arange(3), 4, 5, 10, 20))
    for a, b in ((square, ellipse), (square, heart), (ellipse, heart)):
        assert (a != b).sum() > 50
    # dSprites' orientations are linspace(0, 2 pi, 40): the first and the last are the same image.
    first, last = sprites.render_sprites(factors(2, 4, [0, 39], 10, 20))
    np.testing.assert_array_equal(first, last)


def test_rendering_is_deterministic_and_independent_of_batching():
    chosen = random_factors(64, seed=3)
    batch = sprites.render_sprites(chosen)
    assert batch.tobytes() == sprites.render_sprites(chosen).tobytes()
    one_by_one = np.concatenate([sprites.render_sprites(row[None]) for row in chosen])
    assert batch.tobytes() == one_by_one.tobytes()


def test_bad_factors_are_refused():
    with pytest.raises(ValueError, match="out of range"):
        sprites.render_sprites(factors(3, 0, 0, 0, 0))
    with pytest.raises(ValueError, match="shape \\(N, 5\\)"):
        sprites.render_sprites(np.zeros((2, 4), dtype=np.int64))


# --- SpritesData and packed images ---------------------------------------------------------------------------


def test_sprites_data_observations_images_and_packed_agree():
    data = sprites.open_ground_truth("sprites", "unused")
    assert isinstance(data, sprites.SpritesData) and data.observation_shape == (64, 64, 1)
    assert data.factors_num_values == [3, 6, 40, 32, 32] and list(data.checksums) == ["sprites"]
    chosen = random_factors(100, seed=5)
    observations = data.observations(chosen.astype(np.int32))
    assert observations.dtype == np.float32 and observations.shape == (100, 64, 64, 1)
    np.testing.assert_array_equal(observations[..., 0], sprites.render_sprites(chosen))
    images = data.images(chosen)
    np.testing.assert_array_equal(images, (observations * 255).astype(np.uint8))
    packed = data.packed_images(chosen, chunk=32)
    assert isinstance(packed, PackedBinaryImages)
    assert (len(packed), packed.shape, packed.dtype, packed.ndim) == (100, (100, 64, 64, 1), np.uint8, 4)
    assert packed.bits.nbytes == 100 * 512
    rows = np.array([99, 0, 42, 42])
    np.testing.assert_array_equal(packed[rows], images[rows])
    np.testing.assert_array_equal(packed[7], images[7])


# --- the dSprites file ---------------------------------------------------------------------------------------

TINY = FactorGrid(names=GRID.names, sizes=(3, 2, 2, 2, 2))


class TinyDSprites(sprites.DSpritesData):
    """DSpritesData over a 48-image grid, so a whole file fits in a test."""

    grid = TINY


def write_npz(path, grid=TINY, *, imgs=None, classes=None, skip=()):
    """A file laid out like DeepMind's npz (imgs, latents_classes, latents_values, pickled metadata)."""
    count = grid.num_points
    if classes is None:
        classes = np.concatenate([np.zeros((count, 1), np.int64), grid.to_factors(np.arange(count))], axis=1)
    values = np.concatenate([np.ones((count, 1)), classes[:, 1:] * 0.5 + 1], axis=1)
    if imgs is None:
        imgs = (np.random.RandomState(0).rand(count, 64, 64) < 0.1).astype(np.uint8)
    arrays = {"imgs": imgs, "latents_classes": classes, "latents_values": values,
              "metadata": np.array({"title": "fake"}, dtype=object)}
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **{k: v for k, v in arrays.items() if k not in skip})
    return path, imgs


def expect(path, remote: RemoteFile, monkeypatch) -> None:
    """Makes ``path`` the file DSpritesData's checksum expects."""
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    monkeypatch.setattr(sprites, "DSPRITES_FILE", RemoteFile(remote.filename, urls=(), md5=md5))


def test_dsprites_file_source_and_folder():
    assert DSPRITES_FILE.filename == "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
    assert DSPRITES_FILE.md5 == "7da33b31b13a06f4b04a70402ce90c2e" and DSPRITES_FILE.has_published_checksum
    assert DSPRITES_FILE.urls[0].startswith("https://github.com/deepmind/dsprites-dataset/")
    assert DATASET_FOLDERS["dsprites"] == "dsprites"


def test_missing_dsprites_without_download_is_one_clear_line(tmp_path):
    with pytest.raises(ZooError) as info:
        sprites.open_ground_truth("dsprites", tmp_path, download=False)
    message = str(info.value)
    assert "\n" not in message and "downloading is disabled" in message
    assert DSPRITES_FILE.filename in message and "dsprites/" in message and "ZOO_DATA_DIR" in message


def test_dsprites_loads_checks_and_indexes_by_grid_position(tmp_path, monkeypatch):
    path, imgs = write_npz(tmp_path / "dsprites" / DSPRITES_FILE.filename)
    expect(path, DSPRITES_FILE, monkeypatch)
    data = TinyDSprites(tmp_path, download=False)
    assert data.path == path and data.source == str(tmp_path / "dsprites")
    assert data.checksums == {DSPRITES_FILE.filename: sprites.DSPRITES_FILE.md5}
    assert data.packed.bits.shape == (48, 512)  # kept as bits
    np.testing.assert_array_equal(data.factor_values[1], [1.0, 1.5])
    chosen = TINY.sample_factors(20, np.random.RandomState(0))
    rows = TINY.to_index(chosen)
    observations = data.observations(chosen)
    assert observations.dtype == np.float32 and observations.shape == (20, 64, 64, 1)
    np.testing.assert_array_equal(observations[..., 0], imgs[rows])
    np.testing.assert_array_equal(data.images(chosen)[..., 0], imgs[rows] * 255)
    np.testing.assert_array_equal(data.packed_images(chosen)[np.arange(20)][..., 0], imgs[rows] * 255)


def test_dsprites_file_that_is_not_the_full_grid_is_refused(tmp_path, monkeypatch):
    path, _ = write_npz(tmp_path / "dsprites" / DSPRITES_FILE.filename)
    expect(path, DSPRITES_FILE, monkeypatch)
    with pytest.raises(ZooError, match=r"latents_classes has shape \(48, 6\), expected \(737280, 6\)"):
        sprites.DSpritesData(tmp_path, download=False)


def test_dsprites_checksum_mismatch_is_refused_before_reading(tmp_path):
    write_npz(tmp_path / "dsprites" / DSPRITES_FILE.filename)
    with pytest.raises(ZooError, match="is not the expected file: md5"):
        sprites.DSpritesData(tmp_path, download=False)


@pytest.mark.parametrize("problem, message", [
    ("shuffled", "not the factor grid in order"),
    ("grey", "pixel values above 1"),
    ("no_imgs", "has no imgs"),
    ("not_zip", "corrupt or not a dSprites npz"),
])
def test_dsprites_reader_names_what_is_wrong(tmp_path, problem, message):
    path = tmp_path / "fake.npz"
    if problem == "shuffled":
        classes = np.concatenate([np.zeros((48, 1), np.int64), TINY.to_factors(np.arange(48)[::-1])], axis=1)
        write_npz(path, classes=classes)
    elif problem == "grey":
        write_npz(path, imgs=np.full((48, 64, 64), 255, np.uint8))
    elif problem == "no_imgs":
        write_npz(path, skip=("imgs",))
    else:
        path.write_bytes(b"not a zip file")
    with pytest.raises(ZooError, match=message):
        sprites.load_dsprites_npz(path, TINY)


def test_dsprites_reader_streams_in_chunks_to_the_same_bits(tmp_path):
    path, imgs = write_npz(tmp_path / "fake.npz")
    packed, _ = sprites.load_dsprites_npz(path, TINY, chunk=5)  # 48 images: ten chunks, the last partial
    np.testing.assert_array_equal(packed.bits, np.packbits(imgs.reshape(48, -1), axis=1))
    with zipfile.ZipFile(path) as archive:
        assert "metadata.npy" in archive.namelist()  # present, and never unpickled


def test_unknown_ground_truth_name_is_a_user_error():
    with pytest.raises(ZooError, match="choose sprites or dsprites"):
        sprites.open_ground_truth("mnist", "unused")


def test_dsprites_downloads_when_allowed_and_keeps_only_a_verified_file(tmp_path, monkeypatch):
    served, imgs = write_npz(tmp_path / "server" / "served.npz")
    md5 = hashlib.md5(served.read_bytes()).hexdigest()
    root = tmp_path / "data"
    monkeypatch.setattr(sprites, "DSPRITES_FILE", RemoteFile(DSPRITES_FILE.filename, (served.as_uri(),), md5="0" * 32))
    with pytest.raises(ZooError, match="failed verification"):
        TinyDSprites(root, download=True)
    assert not (root / "dsprites" / DSPRITES_FILE.filename).exists()
    monkeypatch.setattr(sprites, "DSPRITES_FILE", RemoteFile(DSPRITES_FILE.filename, (served.as_uri(),), md5=md5))
    data = TinyDSprites(root, download=True)
    assert data.path == root / "dsprites" / DSPRITES_FILE.filename and data.path.is_file()
    np.testing.assert_array_equal(data.observations(TINY.to_factors(np.arange(48)))[..., 0], imgs)
