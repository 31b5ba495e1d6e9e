"""What Keras fits: a zoo model, the optimisers of its objective and the training step.

The model is networks and distributions, its objective names the loss terms; this class owns
everything about training them: the optimisers (the model's, plus one per ``OptimizerGroup`` the
objective declares, such as FactorVAE's discriminator), KL warm-up as a pure function of the step,
the exact step of the first non-finite or blown-up loss (``divergence_check``), replica loss scaling,
mixed-precision loss scaling and the metrics of every term. Saved as a whole it is a checkpoint (weights and optimiser state);
``zoo_model`` alone is what ``model.keras`` holds.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from zoo.objectives import compute_terms
from zoo.training.keras_private import PrebuiltModel

# Steps of loss history a step's loss is compared with (their median) by the divergence check.
DIVERGENCE_WINDOW = 64


def _adam(learning_rate, beta_1=0.9, beta_2=0.999):
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2)
    if keras.mixed_precision.dtype_policy().name == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


@keras.saving.register_keras_serializable(package="zoo")
class TrainingModel(PrebuiltModel):
    """Trains ``model`` on ``model.objective``.

    Args:
        model: a zoo model (or its serialised form, when Keras loads a checkpoint).
        learning_rate: Adam's rate for the model's own variables.
        cosine_decay_steps: if > 0, the rate follows a cosine decay over that many steps down to
            ``final_learning_rate_fraction`` of itself (``train.learning_rate_schedule: cosine``).
        kl_warmup_steps: optimiser steps over which the rate weight ramps from 0 to 1 (0: none).
        dataset_size: the number of training images, for objectives that estimate aggregate posteriors.
        noise_seed: seeds the posterior samples of step s with (noise_seed, s).
    """

    def __init__(self, model, learning_rate: float = 1e-3, kl_warmup_steps: int = 0, dataset_size: int = 1,
                 noise_seed: int = 0, cosine_decay_steps: int = 0, final_learning_rate_fraction: float = 0.1,
                 **kwargs):
        super().__init__(**kwargs)
        if isinstance(model, dict):
            model = keras.saving.deserialize_keras_object(model)
        self.zoo_model = model
        self.learning_rate_value = float(learning_rate)
        # A schedule or a rate decides the optimiser's variables (a rate is one), so it is fixed here, where a
        # loaded checkpoint is rebuilt too.
        self.cosine_decay_steps, self.final_learning_rate_fraction = int(cosine_decay_steps), float(final_learning_rate_fraction)
        rate = self.learning_rate_value if self.cosine_decay_steps <= 0 else keras.optimizers.schedules.CosineDecay(
            self.learning_rate_value, decay_steps=self.cosine_decay_steps, alpha=self.final_learning_rate_fraction)
        self.kl_warmup_steps, self.dataset_size, self.noise_seed = int(kl_warmup_steps), int(dataset_size), int(noise_seed)
        # 1-based optimiser step of the first diverged step (non-finite or over a divergence limit; 0: none yet),
        # read by the divergence guard between graph calls so it can name the exact step. (The name is older than
        # the limits; it stays, so that checkpoints of earlier runs still load.)
        self.first_nonfinite_step = self.add_weight(name="first_nonfinite_step", shape=(), initializer="zeros",
                                                    trainable=False, dtype="int64", aggregation="only_first_replica")
        self.groups = {group.name: group for group in model.objective.optimizer_groups()}
        self._make_divergence_state(model)
        self.group_optimizers = {name: _adam(group.learning_rate, group.beta_1, group.beta_2)
                                 for name, group in self.groups.items()}
        self.trackers = {name: keras.metrics.Mean(name=name) for name in model.objective.term_names}
        self.compile(optimizer=_adam(rate))
        for optimizer in self.all_optimizers():
            optimizer.build(self.variables_of(optimizer))
        self.built = True

    # ------------------------------------------------------------ variables
    def model_variables(self) -> list:
        """The trainable variables the model's optimiser trains: all but those of optimiser groups."""
        grouped = {id(v) for group in self.groups.values() for v in group.variables}
        return [v for v in self.zoo_model.trainable_variables if id(v) not in grouped]

    def all_optimizers(self) -> list:
        return [self.optimizer, *self.group_optimizers.values()]

    def variables_of(self, optimizer) -> list:
        for name, candidate in self.group_optimizers.items():
            if candidate is optimizer:
                return list(self.groups[name].variables)
        return self.model_variables()

    # --------------------------------------------------------------- steps
    def train_step(self, data):
        images, labels = data
        iterations = self.optimizer.iterations
        seed = tf.stack([tf.constant(self.noise_seed, tf.int32), tf.cast(iterations, tf.int32)])
        # Keras sums gradients across replicas, so each replica contributes its share.
        share = 1.0 / tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape(persistent=bool(self.groups)) as tape:
            terms = compute_terms(self.zoo_model, images, labels, seed=seed, step=iterations,
                                  dataset_size=self.dataset_size, warmup_steps=self.kl_warmup_steps, training=True)
            scaled = {"": self.optimizer.scale_loss(terms["loss"] * share)}
            for name, optimizer in self.group_optimizers.items():
                scaled[name] = optimizer.scale_loss(terms[f"{name}_loss"] * share)
        model_variables = self.model_variables()
        self.optimizer.apply(tape.gradient(scaled[""], model_variables), model_variables)
        for name, optimizer in self.group_optimizers.items():
            variables = list(self.groups[name].variables)
            optimizer.apply(tape.gradient(scaled[name], variables), variables)
        self.divergence_check(terms, tf.cast(iterations, tf.int64))  # apply() has counted this step
        return self._record(terms)

    # ---------------------------------------------------------- divergence
    def _make_divergence_state(self, model) -> None:
        """What ``divergence_check`` reads and writes. Plain TF variables, not Keras weights: they steer the
        divergence guard, never the numbers of a run, and checkpoints (of earlier runs too) stay as they were.

        Checked are the losses the optimisers minimise, against their own recent history and an absolute limit,
        and the distortion and rate, against the absolute limit only (a rate rising from ~0 is healthy).
        """
        groups = [f"{name}_loss" for name in self.groups]
        self.relative_terms = ["loss", *groups]
        bounded = [term for term in ("distortion", "rate") if term in model.objective.term_names]
        self.checked_terms = [*self.relative_terms, *bounded]
        count = len(self.checked_terms)

        def state(value, dtype=tf.float32):
            return tf.Variable(tf.cast(value, dtype), trainable=False, dtype=dtype,
                               aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)

        self.divergence_limits = state(tf.fill([count], float("inf")))  # absolute, per term (the guard sets them)
        self.divergence_factor = state(0.0)  # 0: no relative check
        self.recent_magnitudes = state(tf.zeros([DIVERGENCE_WINDOW, len(self.relative_terms)]))
        self.recent_count = state(0, tf.int64)  # healthy steps recorded so far (a ring buffer of the last 64)
        self.first_bad_values = state(tf.zeros([count]))  # the checked terms at the first diverged step
        self.first_bad_limits = state(tf.zeros([count]))  # and the limits they were held to

    def divergence_check(self, terms, step) -> None:
        """Records ``step`` (1-based) as the first diverged step when a checked term is NaN/Inf or over its limit:
        the absolute limit, or, for a loss, ``divergence_factor`` × the median magnitude (at least 1 nat) of its
        last ``DIVERGENCE_WINDOW`` healthy steps. Static shapes only, so the XLA-compiled step can run it."""
        # Per-example terms (distortion, rate) are checked as their batch mean, as they are logged.
        values = tf.stack([tf.reduce_mean(tf.cast(terms[name], tf.float32)) for name in self.checked_terms])
        magnitudes = tf.abs(values)
        relative_count = len(self.relative_terms)
        filled = tf.minimum(self.recent_count, DIVERGENCE_WINDOW)
        recorded = tf.range(DIVERGENCE_WINDOW, dtype=tf.int64) < filled
        history = tf.where(recorded[:, None], self.recent_magnitudes, float("inf"))
        median = tf.gather(tf.sort(history, axis=0), tf.maximum(filled - 1, 0) // 2)
        factor = self.divergence_factor
        relative = tf.where((filled > 0) & (factor > 0), factor * tf.maximum(median, 1.0), float("inf"))
        relative = tf.concat([relative, tf.fill([len(self.checked_terms) - relative_count], float("inf"))], 0)
        limits = tf.minimum(self.divergence_limits, relative)
        diverged = tf.reduce_any(~tf.math.is_finite(values) | (magnitudes > limits))

        first = self.first_nonfinite_step
        newly = diverged & (first == 0)
        first.assign(tf.where(newly, step, first))
        self.first_bad_values.assign(tf.where(newly, values, self.first_bad_values))
        self.first_bad_limits.assign(tf.where(newly, limits, self.first_bad_limits))
        # Only healthy steps become history, so a blow-up is never its own reference.
        slot = (tf.range(DIVERGENCE_WINDOW, dtype=tf.int64) == self.recent_count % DIVERGENCE_WINDOW)[:, None]
        self.recent_magnitudes.assign(tf.where(slot & ~diverged, magnitudes[None, :relative_count],
                                               self.recent_magnitudes))
        self.recent_count.assign_add(tf.where(diverged, tf.constant(0, tf.int64), tf.constant(1, tf.int64)))

    def reset_divergence_state(self, factor: float, nats_per_dim: float, seed_losses=None) -> None:
        """Before a fit: the limits of ``TrainConfig`` and a history of ``seed_losses`` (e.g. the last finished
        epoch's mean losses, when a run resumes), no diverged step yet."""
        dims = float(np.prod(self.zoo_model.config.image_shape))
        absolute = nats_per_dim * dims if nats_per_dim > 0 else float("inf")
        self.divergence_limits.assign(tf.fill([len(self.checked_terms)], absolute))
        self.divergence_factor.assign(float(factor))
        self.first_nonfinite_step.assign(0)
        magnitudes = np.zeros((DIVERGENCE_WINDOW, len(self.relative_terms)), np.float32)
        seeded = seed_losses is not None and all(np.isfinite(seed_losses))
        if seeded:
            magnitudes[0] = np.abs(np.asarray(seed_losses, np.float32))
        self.recent_magnitudes.assign(magnitudes)
        self.recent_count.assign(1 if seeded else 0)

    def recent_median(self) -> np.ndarray | None:
        """The median magnitude of each relatively checked loss over its recorded history (None: none yet)."""
        filled = min(int(self.recent_count.numpy()), DIVERGENCE_WINDOW)
        return None if filled == 0 else np.sort(self.recent_magnitudes.numpy()[:filled], axis=0)[(filled - 1) // 2]

    def test_step(self, data):
        images, labels = data
        # A fixed noise seed makes validation numbers a deterministic function of the weights.
        seed = tf.constant([self.noise_seed + 1, 0], dtype=tf.int32)
        return self._record(compute_terms(self.zoo_model, images, labels, seed=seed, step=self.optimizer.iterations,
                                          dataset_size=self.dataset_size, warmup_steps=self.kl_warmup_steps))

    def _record(self, terms):
        for name, tracker in self.trackers.items():
            tracker.update_state(terms[name])
        results = {name: tracker.result() for name, tracker in self.trackers.items()}
        if isinstance(self.distribute_strategy, tf.distribute.MultiWorkerMirroredStrategy):
            # Keras reduces the logs of each worker with MEAN over axis 0, which a scalar does not have.
            results = {name: tf.reshape(value, [1]) for name, value in results.items()}
        return results

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, inputs, training=False):
        return self.zoo_model(inputs, training=training)

    # ------------------------------------------------------------- saving
    def get_config(self):
        return {"name": self.name, "model": keras.saving.serialize_keras_object(self.zoo_model),
                "learning_rate": self.learning_rate_value, "kl_warmup_steps": self.kl_warmup_steps,
                "dataset_size": self.dataset_size, "noise_seed": self.noise_seed,
                "cosine_decay_steps": self.cosine_decay_steps,
                "final_learning_rate_fraction": self.final_learning_rate_fraction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def get_compile_config(self):
        return None  # __init__ compiles; Keras must not compile a loaded checkpoint a second time

    def compile_from_config(self, config):
        pass
