"""M2 (Kingma et al. 2014): the labelled subset it learns from, its objective term by term, and its classifier."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf
from harness import batch, evaluate_entry
from inprocess_cli import one_error_line, run_cli

from zoo.data import (DataConfig, Split, binarize_array, images_per_epoch, load_dataset, steps_per_epoch,
                      train_dataset)
from zoo.errors import ZooError
from zoo.evaluation.metrics import classification_error
from zoo.models import ConditionalVAE
from zoo.models.m2 import M2
from zoo.objectives import compute_terms
from zoo.objectives.semi_supervised import enumeration_seed
from zoo.registry import load_registry
from zoo.run_spec import resolve
from zoo.training.training_model import TrainingModel

SMALL = dict(latent_dim=4, hidden_units=(32,), classifier_hidden_units=(16,))
SEED = tf.constant([5, 9])
CLASSES = 10


def mnist(shared_data_dir, **fields):
    return load_dataset(DataConfig(name="mnist", data_dir=str(shared_data_dir), **fields))


# ------------------------------------------------------------------- data


def test_labels_keep_a_balanced_fixed_subset_and_mark_the_rest_unlabelled(shared_data_dir):
    full = mnist(shared_data_dir, train_subset=3000)
    kept = mnist(shared_data_dir, train_subset=3000, labels=100)
    more = mnist(shared_data_dir, train_subset=3000, labels=200)
    labelled = kept.train.y >= 0
    assert np.bincount(kept.train.y[labelled], minlength=CLASSES).tolist() == [10] * CLASSES
    assert set(np.unique(kept.train.y[~labelled])) == {-1}
    np.testing.assert_array_equal(kept.train.y[labelled], full.train.y[labelled])  # kept labels are the true ones
    np.testing.assert_array_equal(kept.train.x, full.train.x)
    for split in ("validation", "test"):
        np.testing.assert_array_equal(getattr(kept, split).y, getattr(full, split).y)
    # The same images in every run, and those of 100 labels among those of 200.
    np.testing.assert_array_equal(mnist(shared_data_dir, train_subset=3000, labels=100).train.y, kept.train.y)
    assert np.all(more.train.y[labelled] == kept.train.y[labelled]) and (more.train.y >= 0).sum() == 200


@pytest.mark.parametrize(("fields", "expected"), [
    (dict(name="cartoon", labels=10), "labels=10; it must be unset for cartoon, which has no class labels"),
    (dict(name="mnist", labels=105), "labels=105; it must be a multiple of mnist's 10 classes"),
    (dict(name="mnist", labels=100, train_subset=50), "labels=100; it must be at most the 50 training images"),
    (dict(name="mnist", labels=100, train_subset=100), "it must be at most 50, 5 per class: the training split "
                                                        "holds 5 images of class '5'"),
])
def test_impossible_label_counts_are_refused_in_one_line(fields, expected, shared_data_dir):
    with pytest.raises(ZooError) as error:
        load_dataset(DataConfig(data_dir=str(shared_data_dir), **fields))
    assert expected in str(error.value) and "\n" not in str(error.value)


def test_labels_flag_reaches_the_data_config(shared_data_dir, monkeypatch, capsys):
    monkeypatch.setenv("ZOO_DATA_DIR", str(shared_data_dir))
    line = one_error_line(run_cli(capsys, "train", "m2", "--labels", "15", "--epochs", "1"))
    assert "labels=15; it must be a multiple of mnist's 10 classes" in line


@pytest.mark.parametrize(("fields", "expected"), [
    (dict(labelled_per_batch=8), "labelled_per_batch=8; it must be 0 unless data.labels is set"),
    (dict(labels=20, labelled_per_batch=30), "labelled_per_batch=30; it must be at most data.labels = 20"),
])
def test_impossible_labelled_batch_sizes_are_refused_in_one_line(fields, expected):
    with pytest.raises(ZooError) as error:
        DataConfig(name="mnist", **fields)
    assert expected in str(error.value) and "\n" not in str(error.value)


def _toy_semi_supervised_split():
    rng = np.random.default_rng(3)
    labels = np.full(64, -1, dtype=np.int32)
    labels[rng.choice(64, 12, replace=False)] = np.arange(12) % CLASSES
    return Split(rng.integers(0, 256, (64, 4, 4, 1), dtype=np.uint8), labels)


def _pairs(dataset):
    return [(x.numpy(), y.numpy()) for x, y in dataset]


def test_labelled_per_batch_appends_fresh_distinct_labelled_images_to_every_batch():
    split = _toy_semi_supervised_split()
    options = dict(batch_size=16, seed=4, epochs=3, binarization="none")
    plain = _pairs(train_dataset(split, start_epoch=0, **options))
    mixed = _pairs(train_dataset(split, start_epoch=0, labelled_per_batch=5, **options))
    assert len(mixed) == len(plain) == 3 * steps_per_epoch(split, 16)
    labelled_images = {split.x[row].tobytes(): split.y[row] for row in np.flatnonzero(split.y >= 0)}
    picks = set()
    for (x, y), (plain_x, plain_y) in zip(mixed, plain):
        assert x.shape == (21, 4, 4, 1)
        # The epoch's shuffle is untouched: the first 16 images are the batch without extra labels.
        np.testing.assert_array_equal(x[:16], plain_x)
        np.testing.assert_array_equal(y[:16], plain_y)
        extra = [(x[i] * 255).round().astype(np.uint8).tobytes() for i in range(16, 21)]
        assert len(set(extra)) == 5  # distinct images within a step
        assert [labelled_images[image] for image in extra] == list(y[16:])  # labelled ones, with their labels
        picks.add(tuple(extra))
    assert len(picks) == len(mixed)  # drawn afresh at every step
    # A pure function of (seed, epoch, step): a run resumed at epoch 2 gets the same batches.
    resumed = _pairs(train_dataset(split, start_epoch=2, labelled_per_batch=5, **options))
    for (x, y), (x_full, y_full) in zip(resumed, mixed[-len(resumed):]):
        np.testing.assert_array_equal(x, x_full)
        np.testing.assert_array_equal(y, y_full)


@pytest.mark.parametrize("labelled_per_batch", [0, 5])
def test_bench_throughput_counts_the_images_the_pipeline_yields(labelled_per_batch):
    split = _toy_semi_supervised_split()  # 64 images, batch 24: 2 full batches, 16 images dropped
    epoch = train_dataset(split, batch_size=24, seed=1, start_epoch=0, epochs=1, binarization="none",
                          labelled_per_batch=labelled_per_batch)
    yielded = sum(int(x.shape[0]) for x, _ in epoch)
    counted = images_per_epoch(split, 24, labelled_per_batch)
    assert yielded == counted == 2 * (24 + labelled_per_batch)


# -------------------------------------------------------------- objective


def cvae_twin(**fields):
    """A conditional VAE and an M2 (``SMALL`` plus ``fields``) with the same encoder, decoder and heads."""
    networks = {key: value for key, value in SMALL.items() if key != "classifier_hidden_units"}
    plain, variant = ConditionalVAE(networks), M2({**SMALL, **fields})
    for part in ("encoder_net", "decoder_net", "posterior_head", "likelihood_head"):
        getattr(variant, part).set_weights(getattr(plain, part).get_weights())
    return plain, variant


def test_labelled_batch_with_alpha_zero_is_the_conditional_vae():
    images, labels = batch()
    plain, variant = cvae_twin(alpha=0.0)
    for step, warmup in ((None, 0), (3, 10)):  # after training, and inside a KL warm-up
        a = compute_terms(plain, images, labels, seed=SEED, step=step, warmup_steps=warmup)
        b = compute_terms(variant, images, labels, seed=SEED, step=step, warmup_steps=warmup)
        assert float(b["loss"]) == float(a["loss"]) == float(b["labelled_loss"])
        np.testing.assert_array_equal(b["elbo"], a["elbo"])
        assert float(b["unlabelled_loss"]) == 0.0
    weighted = M2({**SMALL, "alpha": 2.5})
    weighted.set_weights(variant.get_weights())
    c = compute_terms(weighted, images, labels, seed=SEED)
    b = compute_terms(variant, images, labels, seed=SEED)
    assert float(c["loss"]) == pytest.approx(float(b["loss"]) + 2.5 * float(c["classification_loss"]), rel=1e-6)


def test_unlabelled_term_is_the_sum_over_classes_written_out():
    images, labels = batch(6)
    labels[3:] = -1  # three labelled images, three unlabelled
    model = M2({**SMALL, "alpha": 0.7})
    terms = compute_terms(model, images, labels, seed=SEED)

    # By hand: L(x, c) for each class c from the ordinary hooks, the codes from the objective's noise.
    noise = tf.random.stateless_normal([CLASSES, len(images), SMALL["latent_dim"]], seed=enumeration_seed(SEED))
    per_class = []
    for c in range(CLASSES):
        label = np.full(len(images), c, dtype="int32")
        posterior = model.posterior(images, label)
        mean, std = posterior.mean().numpy(), posterior.stddev().numpy()
        codes = mean + std * noise[c].numpy()
        distortion = -model.likelihood(codes, label).log_prob(images).numpy()
        rate = 0.5 * np.sum(std**2 + mean**2 - 1.0 - 2.0 * np.log(std), axis=-1)  # KL(N(μ, σ²) ‖ N(0, 1))
        per_class.append(distortion + rate)
    per_class = np.stack(per_class, axis=-1).astype("float64")  # [batch, classes]
    logits = model.class_logits(images).numpy().astype("float64")
    q = np.exp(logits - logits.max(-1, keepdims=True))
    q /= q.sum(-1, keepdims=True)
    unlabelled = np.sum(q * per_class, -1) + np.sum(q * np.log(q), -1)  # Σ_y q(y|x) L(x, y) − H(q(y|x))

    cross_entropy = -np.log(q[np.arange(3), labels[:3]])
    labelled = -terms["elbo"].numpy()[:3] + 0.7 * cross_entropy
    count = len(images)
    assert float(terms["unlabelled_loss"]) == pytest.approx(unlabelled[3:].sum() / count, rel=1e-5)
    assert float(terms["labelled_loss"]) == pytest.approx(labelled.sum() / count, rel=1e-5)
    assert float(terms["loss"]) == pytest.approx((labelled.sum() + unlabelled[3:].sum()) / count, rel=1e-5)
    assert float(terms["classification_loss"]) == pytest.approx(cross_entropy.mean(), rel=1e-5)
    assert float(terms["accuracy"]) == pytest.approx(np.mean(q[:3].argmax(-1) == labels[:3]))
    # With y latent as well, the bound on log p(x) is −U(x) − log K.
    np.testing.assert_allclose(terms["elbo"].numpy()[3:], -unlabelled[3:] - math.log(CLASSES), rtol=1e-5)


# ------------------------------------------------------------- classifier


@pytest.mark.slow
def test_classifier_learns_from_a_hundred_labels(shared_data_dir):
    data = mnist(shared_data_dir, train_subset=1000, test_subset=1000, validation_size=0, labels=100)
    tf.keras.utils.set_random_seed(0)
    model = M2({"latent_dim": 8, "hidden_units": (128,), "classifier_hidden_units": (128,), "alpha": 10.0})
    test_images, test_labels = binarize_array(data.test.x, seed=0), data.test.y
    before = classification_error(model, test_images, test_labels)
    trained = TrainingModel(model, dataset_size=len(data.train))
    # 30 epochs of 10 batches, about 10 labelled images in each.
    training = train_dataset(data.train, batch_size=100, seed=0, start_epoch=0, epochs=30, binarization="dynamic")
    trained.fit(training, epochs=1, steps_per_epoch=300, verbose=0)
    after = classification_error(model, test_images, test_labels)
    # Chance is 0.9; 100 labels and a few hundred steps bring it well under.
    assert before > 0.75 and after < 0.5, (before, after)


def test_entry_reports_its_test_classification_error():
    metrics = evaluate_entry(resolve(load_registry().get("m2")))
    assert 0.0 <= metrics["classification_error"] <= 1.0
    assert metrics["classification_error"] == pytest.approx(1.0 - metrics["objective"]["accuracy"])
    assert set(metrics["objective"]) == {"loss", "labelled_loss", "unlabelled_loss", "classification_loss", "accuracy"}
