"""Evaluation: the numbers are right (KL, ELBO/IWAE ordering, reproducible noise), move the right way
with training, and the figures that apply — and only those — are written as readable PNGs."""

from __future__ import annotations

import gzip
import math

import keras
import matplotlib.image as mpimg
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from zoo.bench import plots as bench_plots
from zoo.errors import ZooError
from zoo.evaluation import EvalConfig, evaluate, iwae_bound, write_all_figures
from zoo.evaluation import figures, image_mosaic, metrics
from zoo.models import VAE, Autoencoder, ConditionalVAE, VAEConfig
from zoo.training.training_model import TrainingModel


def _random_binary_images(count: int, seed: int = 0) -> np.ndarray:
    # Smooth-ish random blobs rather than pure noise so that the encoder's outputs differ between images.
    rng = np.random.default_rng(seed)
    probabilities = rng.uniform(0.05, 0.6, size=(count, 1, 1, 1)) * np.ones((1, 28, 28, 1))
    return (rng.random((count, 28, 28, 1)) < probabilities).astype(np.float32)


def _small_vae(seed: int = 1, **overrides) -> VAE:
    keras.utils.set_random_seed(seed)
    return VAE(VAEConfig(latent_dim=4, hidden_units=(64,), **overrides))


def _spread_posterior(model: VAE, scale: float) -> None:
    # Random init gives posterior means near 0; scaling the head makes KL and the IWAE gap clearly non-zero.
    kernel, bias = model.posterior_head.get_weights()
    model.posterior_head.set_weights([kernel * scale, bias])


# ------------------------------------------------------------------ config


def test_eval_config_defaults_and_validation():
    config = EvalConfig()
    assert (config.iw_samples, config.iw_chunk, config.batch_size, config.num_samples) == (1000, 100, 1000, 64)
    for field in ("iw_samples", "iw_chunk", "batch_size", "num_samples"):
        with pytest.raises(ZooError, match=field):
            EvalConfig.from_dict({field: 0})
    with pytest.raises(ZooError, match="unknown"):
        EvalConfig.from_dict({"iw_sample": 10})


# -------------------------------------------------------------------- rate


def test_analytic_kl_matches_monte_carlo_within_three_standard_errors():
    model = _small_vae()
    _spread_posterior(model, 3.0)
    images = tf.constant(_random_binary_images(6))
    posterior = model.posterior(images)
    analytic = model.rate(posterior, posterior.sample(seed=[0, 0])).numpy()
    samples = 20000
    codes = posterior.sample(samples, seed=[7, 7])
    log_ratio = (posterior.log_prob(codes) - model.prior().log_prob(codes)).numpy().astype(np.float64)
    estimate = log_ratio.mean(axis=0)
    standard_error = log_ratio.std(axis=0, ddof=1) / math.sqrt(samples)
    assert np.all(analytic > 0.5), "the KL must be far from 0 for the comparison to mean anything"
    assert np.all(standard_error < 0.05 * analytic)
    assert np.all(np.abs(estimate - analytic) < 3 * standard_error), (estimate, analytic, standard_error)


def test_kl_per_dimension_sums_to_the_analytic_rate():
    model = _small_vae()
    _spread_posterior(model, 2.0)
    images = _random_binary_images(32)
    posterior = model.posterior(tf.constant(images))
    per_dim = model.kl_per_dimension(posterior).numpy()
    rate = model.rate(posterior, posterior.sample(seed=[0, 0])).numpy()
    np.testing.assert_allclose(per_dim.sum(axis=1), rate, rtol=1e-5)
    # The test-set means agree too (batched differently: 10 per batch vs 32).
    mean_kl = metrics.kl_per_dimension(model, images, None, batch_size=10)
    terms = metrics.elbo_terms(model, images, seed=3)
    assert mean_kl.shape == (4,) and np.all(mean_kl > 0)
    np.testing.assert_allclose(mean_kl.sum(), terms["rate"].mean(), rtol=1e-5)


# -------------------------------------------------------------------- IWAE


@pytest.fixture(scope="module")
def random_vae():
    model = _small_vae(seed=2)
    _spread_posterior(model, 3.0)
    return model, _random_binary_images(16, seed=1)


def test_elbo_is_below_the_iwae_bound_per_example(random_vae):
    model, images = random_vae
    iwae = iwae_bound(model, images, num_samples=50, chunk=50, seed=1).numpy()
    # An accurate ELBO per example: the mean of 500 single-sample ELBOs with independent noise.
    seeds = metrics.importance_seeds(seed=2, batch_index=0, start=0, count=500)
    weights = tf.function(lambda x, s: metrics.log_importance_weights(model, x, None, s))
    log_weights = weights(tf.constant(images), seeds).numpy().astype(np.float64)
    elbo = log_weights.mean(axis=0)
    standard_error = log_weights.std(axis=0, ddof=1) / math.sqrt(len(seeds))
    assert np.all(iwae >= elbo - 3 * standard_error)
    assert iwae.mean() > elbo.mean() + 0.5, "the random model has a clear gap between the two bounds"
    # The evaluation's own single-sample ELBO agrees with that estimate on average.
    single = metrics.elbo_terms(model, images, seed=5)["elbo"]
    assert abs(single.mean() - elbo.mean()) < 3 * (single.std() / math.sqrt(len(single)) + standard_error.mean())


def test_iwae_is_non_decreasing_in_k(random_vae):
    model, images = random_vae
    means = [iwae_bound(model, images, num_samples=k, chunk=10, seed=4).numpy().mean() for k in (1, 10, 100)]
    tolerance = 0.05  # nats; the observed steps are several nats
    assert means[0] <= means[1] + tolerance and means[1] <= means[2] + tolerance, means
    assert means[2] - means[0] > 1.0, means


def test_iwae_with_one_sample_is_the_elbo_with_the_same_noise():
    # With a Monte Carlo rate both are log p(x, z) − log q(z|x) at the same z; only float32 rounding differs.
    model = _small_vae(seed=3, analytic_kl=False)
    _spread_posterior(model, 3.0)
    images = _random_binary_images(16, seed=2)
    for seed in (0, 11):
        iwae = iwae_bound(model, images, num_samples=1, chunk=1, seed=seed, batch_size=8).numpy()
        elbo = metrics.elbo_terms(model, images, seed=seed, batch_size=8)["elbo"]
        np.testing.assert_allclose(iwae, elbo, rtol=1e-6, atol=1e-4)
    other = iwae_bound(model, images, num_samples=1, chunk=1, seed=12, batch_size=8).numpy()
    assert np.abs(other - elbo).max() > 1e-2, "a different seed must draw different noise"


def test_iwae_with_one_sample_is_unbiased_for_the_analytic_elbo(random_vae):
    # Same z in both, so the difference is analytic KL − (log q − log p)(z): zero mean over seeds.
    model, images = random_vae
    differences = []
    for seed in range(60):
        iwae = iwae_bound(model, images, num_samples=1, chunk=1, seed=seed).numpy()
        elbo = metrics.elbo_terms(model, images, seed=seed)["elbo"]
        differences.append(np.mean(iwae - elbo))
    differences = np.asarray(differences)
    standard_error = differences.std(ddof=1) / math.sqrt(len(differences))
    assert standard_error > 0
    assert abs(differences.mean()) < 3 * standard_error, (differences.mean(), standard_error)


def test_chunking_and_batching_do_not_change_the_iwae_bound(random_vae):
    model, images = random_vae
    small = iwae_bound(model, images, num_samples=50, chunk=7, seed=9, batch_size=8).numpy()
    large = iwae_bound(model, images, num_samples=50, chunk=100, seed=9, batch_size=8).numpy()
    np.testing.assert_allclose(small, large, rtol=0, atol=1e-4)
    other_seed = iwae_bound(model, images, num_samples=50, chunk=100, seed=10, batch_size=8).numpy()
    assert np.abs(other_seed - large).max() > 1e-3
    # evaluate() streams the same estimates: its iwae is their mean.
    result = evaluate(model, images, None, EvalConfig(iw_samples=50, iw_chunk=13, batch_size=8, seed=9))
    assert result["iwae"] == pytest.approx(large.mean(), abs=1e-4)
    assert result["bits_per_dim"] == pytest.approx(-large.mean() / (784 * math.log(2)), rel=1e-9)


# -------------------------------------------------------- evaluate, real data


def _read_idx(path, offset):
    with gzip.open(path, "rb") as stream:
        return np.frombuffer(stream.read(), dtype=np.uint8, offset=offset)


def _mnist(directory, split, count, seed):
    images = _read_idx(directory / f"{split}-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28, 1)[:count]
    labels = _read_idx(directory / f"{split}-labels-idx1-ubyte.gz", 8)[:count].astype(np.int32)
    # Static binarisation with a fixed seed: pixel on with probability equal to its intensity.
    rng = np.random.default_rng(seed)
    binary = (rng.random(images.shape) < images / 255.0).astype(np.float32)
    return binary, labels


def test_training_on_mnist_improves_the_test_metrics(shared_data_dir):
    train_x, train_y = _mnist(shared_data_dir / "mnist", "train", 2000, seed=0)
    test_x, test_y = _mnist(shared_data_dir / "mnist", "t10k", 500, seed=1)
    keras.utils.set_random_seed(0)
    model = VAE(VAEConfig(latent_dim=8, hidden_units=(128,)))
    config = EvalConfig(iw_samples=20, iw_chunk=10, batch_size=250)
    before = evaluate(model, test_x, test_y, config)

    data = tf.data.Dataset.from_tensor_slices((train_x, train_y)).shuffle(2000, seed=0).repeat().batch(100)
    TrainingModel(model, dataset_size=len(train_x)).fit(data, epochs=1, steps_per_epoch=200, shuffle=False, verbose=0)
    after = evaluate(model, test_x, test_y, config)

    assert after["elbo"] > before["elbo"] + 100, (before["elbo"], after["elbo"])
    assert after["iwae"] > before["iwae"] + 100
    assert after["reconstruction_bce"] < before["reconstruction_bce"] - 100
    assert after["reconstruction_mse"] < before["reconstruction_mse"]
    assert after["elbo"] <= after["iwae"]
    assert after["elbo"] == pytest.approx(-(after["distortion"] + after["rate"]), abs=1e-6)
    assert 0.1 < after["bits_per_dim"] < before["bits_per_dim"]
    assert after["num_examples"] == 500 and after["likelihood"] == "bernoulli" and after["iw_samples"] == 20
    # A trained VAE on MNIST uses several dimensions and its rate is their KL.
    assert 1 <= after["active_units"] <= 8
    assert sum(after["kl_per_dim"]) == pytest.approx(after["rate"], rel=1e-4)


# ------------------------------------------------------------ active units


def _silence_dims(head: keras.layers.Dense, dims, latent: int, gain: float) -> None:
    # Zeroed location columns make E_q[z_d|x] constant over x for d in dims; gain spreads the others.
    kernel, bias = head.get_weights()
    kernel[:, :latent] *= gain
    for d in dims:
        kernel[:, d] = 0.0
        bias[d] = 0.0
    head.set_weights([kernel, bias])


def test_autoencoder_reports_no_density_and_counts_active_units_from_code_variance():
    keras.utils.set_random_seed(4)
    model = Autoencoder(VAEConfig(latent_dim=4, hidden_units=(64,)))
    _silence_dims(model.posterior_head, dims=(1, 3), latent=4, gain=20.0)
    images = _random_binary_images(64, seed=3)
    result = evaluate(model, images, None, EvalConfig(iw_samples=5, batch_size=16))
    assert result["iwae"] is None and result["elbo"] is None and result["bits_per_dim"] is None
    assert result["kl_per_dim"] is None and result["iw_samples"] is None
    assert result["rate"] == 0.0
    assert result["active_units"] == 2
    assert result["code_variance"][1] == 0.0 and result["code_variance"][3] == 0.0
    assert min(result["code_variance"][0], result["code_variance"][2]) > 0.01
    # The AE's distortion is its reconstruction BCE: both use z = the code.
    assert result["distortion"] == pytest.approx(result["reconstruction_bce"], rel=1e-5)
    with pytest.raises(ZooError, match="no density"):
        iwae_bound(model, images, num_samples=2)


def test_vae_active_units_follow_posterior_mean_variance_not_kl():
    model = _small_vae(seed=5)
    _silence_dims(model.posterior_head, dims=(0,), latent=4, gain=20.0)
    result = evaluate(model, _random_binary_images(64, seed=4), None, EvalConfig(iw_samples=5, batch_size=32))
    assert result["active_units"] == 3
    # Dimension 0 still pays KL (its scale is not 1) although its mean never moves: inactive yet costly.
    assert result["kl_per_dim"][0] > 0.001
    assert result["code_variance"][0] == 0.0


# ------------------------------------------------------------------ figures

# Pixel sizes follow from DPI = 100, TILE = 0.4 in (zoo.evaluation.image_mosaic) and margins 1.0/0.2 (left/right), 0.6/0.5
# (bottom/top): a grid of r × c tiles is (110 + 40 r) × (120 + 40 c) pixels (height × width).
def _grid_pixels(rows, cols):
    return (110 + 40 * rows, 120 + 40 * cols)


def _read_png(path):
    assert path.stat().st_size > 1000
    pixels = mpimg.imread(path)
    assert pixels.std() > 0.01, f"{path.name} is blank"
    return pixels.shape[:2]


def test_figures_for_a_two_dimensional_vae(tmp_path):
    keras.utils.set_random_seed(6)
    model = VAE(VAEConfig(latent_dim=2, hidden_units=(32,)))
    _spread_posterior(model, 3.0)
    images = _random_binary_images(200, seed=5)
    labels = np.arange(200, dtype=np.int32) % 10
    config = EvalConfig(iw_samples=2, batch_size=100, num_samples=64)
    result = evaluate(model, images, labels, config)
    paths = write_all_figures(model, images, labels, result, tmp_path, config)
    sizes = {path.name: _read_png(path) for path in paths}
    assert sizes == {
        "samples.png": _grid_pixels(8, 8),
        "reconstructions.png": _grid_pixels(4, 10),  # 20 images: two blocks of input and recon rows
        "traversals.png": _grid_pixels(2, 11),
        "latent_scatter.png": (600, 700),
        "latent_histograms.png": (1260, 800),  # 10 classes x 2 dims, 1.2 in per class + 0.6 in
        "manifold.png": _grid_pixels(20, 20),
        "manifold_box.png": _grid_pixels(20, 20),
        "kl_per_dim.png": (400, 600),
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(sizes), "no temporary files left behind"


def _checkerboard_grid(side=64, count=4):
    board = (np.add.outer(np.arange(side), np.arange(side)) % 2).astype(np.float32)
    return np.repeat(board[None, :, :, None], count, axis=0).repeat(3, axis=-1)  # [count, side, side, 3] RGB


def _drawn_one_to_one(pixels, top, left, side):
    """Whether the first tile of a one-pixel checkerboard grid alternates in every pixel: squeezed into a
    smaller tile, nearest-neighbour sampling drops rows and columns and neighbouring pixels repeat a value."""
    row = pixels[top + side // 2, left + 4: left + side - 4, 0]  # inside the tile, clear of the axes frame
    column = pixels[top + 4: top + side - 4, left + side // 2, 0]
    return bool(np.all(np.abs(np.diff(row)) > 0.99) and np.all(np.abs(np.diff(column)) > 0.99))


def test_images_larger_than_a_tile_are_drawn_at_their_own_pixels(tmp_path):
    side, tile = 64, 65  # a tile holds the image and the mosaic's one-pixel padding
    figure, _ = figures._grid_figure(_checkerboard_grid(side), 2, 2, "checkerboard")
    path = figures._save(figure, tmp_path / "grid.png")
    assert _read_png(path) == (110 + 2 * tile, 120 + 2 * tile)
    assert _drawn_one_to_one(mpimg.imread(path), top=50, left=100, side=side)  # MARGIN_TOP, MARGIN_LEFT in px
    # The bench's sample grids (0.2 in margins, 0.4 in above for the title) draw through the same tile size.
    path = bench_plots.image_grid(_checkerboard_grid(side), tmp_path / "bench_grid.png", "checkerboard", cols=2)
    assert _read_png(path) == (60 + 2 * tile, 40 + 2 * tile)
    assert _drawn_one_to_one(np.asarray(Image.open(path).convert("RGB"), np.float32) / 255, top=40, left=20,
                             side=side)
    # Small images keep the 40 px tile (a 28 px digit is drawn larger, not smaller).
    assert image_mosaic.tile_inches((28, 28, 1)) == (image_mosaic.TILE, image_mosaic.TILE)


def test_figures_for_a_conditional_vae_and_what_is_skipped(tmp_path):
    keras.utils.set_random_seed(7)
    model = ConditionalVAE(VAEConfig(latent_dim=8, hidden_units=(32,)))
    images = _random_binary_images(100, seed=6)
    labels = np.arange(100, dtype=np.int32) % 10
    config = EvalConfig(iw_samples=2, batch_size=50)
    result = evaluate(model, images, labels, config)
    sizes = {path.name: _read_png(path) for path in write_all_figures(model, images, labels, result, tmp_path, config)}
    assert sizes == {
        "samples_by_class.png": _grid_pixels(10, 10),
        "reconstructions.png": _grid_pixels(4, 10),
        "traversals.png": _grid_pixels(8, 11),  # top 8 of 8 dims
        "latent_scatter.png": (600, 700),  # principal components for latent 8
        "kl_per_dim.png": (400, 600),
    }
    with pytest.raises(ZooError, match="labelled"):
        evaluate(model, images, None, config)
    assert write_all_figures(model, images, labels, result, tmp_path / "off", config.replace(figures=False)) == []


def test_figures_for_an_unlabelled_autoencoder(tmp_path):
    keras.utils.set_random_seed(8)
    model = Autoencoder(VAEConfig(latent_dim=3, num_classes=0, hidden_units=(32,)))
    images = _random_binary_images(60, seed=7)
    config = EvalConfig(batch_size=30, num_samples=10)
    result = evaluate(model, images, None, config)
    sizes = {path.name: _read_png(path) for path in write_all_figures(model, images, None, result, tmp_path, config)}
    # No KL bars (no KL), no 2-D-only figures; 10 samples in a 3 x 4 grid.
    assert sizes == {
        "samples.png": _grid_pixels(3, 4),
        "reconstructions.png": _grid_pixels(4, 10),
        "traversals.png": _grid_pixels(3, 11),
        "latent_scatter.png": (600, 700),
    }


def test_rgb_gaussian_vae_has_no_bce_and_colour_figures(tmp_path):
    keras.utils.set_random_seed(9)
    model = VAE(VAEConfig(image_shape=(8, 8, 3), num_classes=0, latent_dim=2, hidden_units=(16,),
                          likelihood="gaussian"))
    images = np.random.default_rng(8).random((40, 8, 8, 3)).astype(np.float32)
    result = evaluate(model, images, None, EvalConfig(iw_samples=4, batch_size=20))
    assert result["reconstruction_bce"] is None and result["likelihood"] == "gaussian"
    assert result["bits_per_dim"] == pytest.approx(-result["iwae"] / (8 * 8 * 3 * math.log(2)))
    path = write_all_figures(model, images, None, result, tmp_path, EvalConfig(num_samples=4))[0]
    assert path.name == "samples.png" and _read_png(path) == _grid_pixels(2, 2)
    # Colour survives: the input-row tiles of the reconstruction figure differ between channels.
    pixels = mpimg.imread(tmp_path / "reconstructions.png")[..., :3]
    assert np.abs(pixels[..., 0] - pixels[..., 1]).max() > 0.1
    assert (tmp_path / "manifold.png").exists() and (tmp_path / "latent_histograms.png").exists()


def test_prior_samples_of_one_class(tmp_path):
    keras.utils.set_random_seed(10)
    model = ConditionalVAE(VAEConfig(latent_dim=2, hidden_units=(16,)))
    path = figures.prior_samples(model, tmp_path / "three.png", count=6, seed=1, label=3)
    # Three tiles are narrower than the title, so the figure is as wide as the title (and no longer clips it).
    title = "ConditionalVAE: 6 samples from p(z), class 3"
    width = int(100 * (figures.text_width(title) + 2 * figures.TITLE_PAD))  # matplotlib truncates
    assert _grid_pixels(2, 3)[1] < width and _read_png(path) == (_grid_pixels(2, 3)[0], width)
    # The label reaches the decoder: the same codes decoded as another class give other images.
    codes = np.zeros((1, 2), np.float32)
    three, four = (np.asarray(model.decode(codes, np.array([label]))) for label in (3, 4))
    assert np.abs(three - four).max() > 1e-4


def test_summary_line_puts_the_unit_on_the_numbers_not_on_the_active_units():
    from zoo.evaluation.runner import summary_line

    metrics = {"model": "cvae", "dataset": "mnist", "elbo": -92.114, "distortion": 71.94, "rate": 20.17,
               "iwae": -86.9, "iw_samples": 1000, "active_units": 15, "latent_dim": 16}
    assert summary_line(metrics) == ("test cvae on mnist, nats per image: ELBO -92.11, distortion 71.94, rate 20.17, "
                                     "IWAE -86.90 (k = 1000); active units 15/16")
    assert summary_line({"model": "ae", "dataset": "mnist", "distortion": 12.5, "active_units": 2,
                         "latent_dim": 2}) == "test ae on mnist, nats per image: distortion 12.50; active units 2/2"
