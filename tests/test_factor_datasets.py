"""sprites as a zoo dataset: splits with factors, packed training images through the pipelines, the
Locatello network, and the tuner's disentanglement objectives."""

from __future__ import annotations

import numpy as np
import pytest

from zoo.data import DataConfig, load_dataset
from zoo.data.factors import PackedBinaryImages
from zoo.data.sprites import FACTOR_GRID, render_sprites
from zoo.errors import ZooError
from zoo.tuning.objectives import check_objective


@pytest.fixture(scope="module")
def sprites_data(tmp_path_factory):
    return load_dataset(DataConfig(name="sprites", data_dir=str(tmp_path_factory.mktemp("data")), train_subset=640,
                                   validation_size=64, test_subset=100))


def test_sprites_splits_carry_their_factors_and_their_images_are_the_renders(sprites_data):
    data = sprites_data
    assert data.image_shape == (64, 64, 1) and data.num_classes == 0 and data.ground_truth is not None
    assert (len(data.train), len(data.validation), len(data.test)) == (640, 64, 100)
    assert isinstance(data.train.x, PackedBinaryImages) and isinstance(data.test.x, np.ndarray)
    for split in (data.train, data.validation, data.test):
        assert split.factors.shape == (len(split), 5) and split.factors.dtype == np.int32
        rows = np.arange(min(50, len(split)))
        np.testing.assert_array_equal(split.x[rows][..., 0], render_sprites(split.factors[rows]) * 255)
    # The three splits are disjoint grid points; the training subset is spread over the grid, not its start.
    points = [set(FACTOR_GRID.to_index(split.factors).tolist()) for split in (data.train, data.validation, data.test)]
    assert not (points[0] & points[1]) and not (points[0] & points[2]) and not (points[1] & points[2])
    assert len(np.unique(data.train.factors[:, 0])) == 3 and len(np.unique(data.train.factors[:, 1])) == 6


def test_a_subset_is_the_same_points_whatever_else_is_asked(tmp_path):
    small = load_dataset(DataConfig(name="sprites", data_dir=str(tmp_path), train_subset=100, test_subset=20))
    other = load_dataset(DataConfig(name="sprites", data_dir=str(tmp_path), train_subset=100, test_subset=50))
    np.testing.assert_array_equal(small.train.factors, other.train.factors)
    np.testing.assert_array_equal(small.test.factors, other.test.factors[:20])


def test_packed_training_split_gives_the_batches_of_the_unpacked_one(sprites_data):
    from zoo.data import Split, eval_dataset, train_dataset

    packed = sprites_data.train
    plain = Split(packed.x[np.arange(len(packed))], packed.y, packed.factors)
    for mode in ("dynamic", "static", "none"):
        batches = [train_dataset(split, batch_size=64, seed=3, start_epoch=1, epochs=2, binarization=mode)
                   for split in (packed, plain)]
        for (xa, ya), (xb, yb) in zip(*batches, strict=True):
            np.testing.assert_array_equal(xa.numpy(), xb.numpy())
    evaluated = [np.concatenate([x.numpy() for x, _ in eval_dataset(split, batch_size=100, binarization="dynamic")])
                 for split in (packed, plain)]
    np.testing.assert_array_equal(*evaluated)
    assert set(np.unique(evaluated[0])) == {0.0, 1.0}


def test_factor_datasets_refuse_other_image_sizes():
    with pytest.raises(ZooError, match="unset or 64 for sprites"):
        DataConfig(name="sprites", image_size=32)


def test_locatello_network_has_the_papers_layers_and_parameter_count():
    import keras

    from zoo.models.vae import VAE, VAEConfig

    model = VAE(VAEConfig(image_shape=(64, 64, 1), latent_dim=10, architecture="locatello_conv",
                          likelihood="bernoulli"))
    x = np.zeros((2, 64, 64, 1), np.float32)
    assert model.likelihood(model.posterior(x).sample(seed=0)).mean().shape == (2, 64, 64, 1)
    encoder = [layer for layer in model.encoder_net._flatten_layers() if isinstance(layer, keras.layers.Conv2D)]
    assert [(c.filters, c.kernel_size, c.strides) for c in encoder] == [
        (32, (4, 4), (2, 2)), (32, (4, 4), (2, 2)), (64, (4, 4), (2, 2)), (64, (4, 4), (2, 2))]
    # By hand: convs 16·32+32, 16·32·32+32, 16·32·64+64, 16·64·64+64; dense 1024·256+256; head 256·20+20.
    encoder_params = (16 * 32 + 32) + (16 * 32 * 32 + 32) + (16 * 32 * 64 + 64) + (16 * 64 * 64 + 64) + 1024 * 256 + 256
    assert model.encoder_net.count_params() == encoder_params
    assert model.posterior_head.count_params() == 256 * 20 + 20
    # Decoder: dense 10·256+256, 256·1024+1024; deconvs 16·64·64+64, 16·64·32+32, 16·32·32+32, 16·32·1+1.
    decoder_params = (10 * 256 + 256) + (256 * 1024 + 1024) + (16 * 64 * 64 + 64) + (16 * 64 * 32 + 32) \
        + (16 * 32 * 32 + 32) + (16 * 32 + 1)
    assert model.decoder_net.count_params() == decoder_params


def test_locatello_network_refuses_sizes_its_strides_cannot_halve():
    from zoo.models.vae import VAEConfig

    with pytest.raises(ZooError, match="multiple of 16"):
        VAEConfig(image_shape=(28, 28, 1), architecture="locatello_conv")


def test_disentanglement_objectives_need_factors():
    assert check_objective("mig", has_factors=True) == "max"
    with pytest.raises(ZooError, match="objective 'mig' needs a data set with ground-truth factors"):
        check_objective("mig", dataset="mnist", has_factors=False)
    with pytest.raises(ZooError, match=r"did you mean 'mig'"):
        check_objective("mgi")


def test_held_out_factors_draw_only_validation_combinations(sprites_data):
    from zoo.tuning.hypermodel import HeldOutFactors

    held_out = HeldOutFactors(sprites_data.ground_truth, sprites_data.validation.factors)
    factors, images = held_out.sample(200, np.random.RandomState(0))
    allowed = set(FACTOR_GRID.to_index(sprites_data.validation.factors).tolist())
    assert set(FACTOR_GRID.to_index(factors).tolist()) <= allowed
    np.testing.assert_array_equal(images[..., 0], render_sprites(factors).astype(np.float32))
    assert held_out.num_factors == 5 and held_out.factors_num_values == [3, 6, 40, 32, 32]
