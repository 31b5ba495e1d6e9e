"""What Keras fits: a zoo model, the optimisers of its objective and the training step.

The model is networks and distributions, its objective names the loss terms; this class owns
everything about training them: the optimisers (the model's, plus one per ``OptimizerGroup`` the
objective declares, such as FactorVAE's discriminator), KL warm-up as a pure function of the step,
the exact step of the first non-finite loss, replica loss scaling, mixed-precision loss scaling
and the metrics of every term. Saved as a whole it is a checkpoint (weights and optimiser state);
``zoo_model`` alone is what ``model.keras`` holds.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from zoo.objectives import compute_terms
from zoo.training.keras_private import PrebuiltModel


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
        # 1-based optimiser step of the first non-finite loss (0: none yet), read by the divergence guard between
        # graph calls so it can name the exact step.
        self.first_nonfinite_step = self.add_weight(name="first_nonfinite_step", shape=(), initializer="zeros",
                                                    trainable=False, dtype="int64", aggregation="only_first_replica")
        self.groups = {group.name: group for group in model.objective.optimizer_groups()}
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
        losses = [terms["loss"], *(terms[f"{name}_loss"] for name in self.group_optimizers)]
        finite = tf.reduce_all(tf.math.is_finite(tf.stack(losses))) if self.groups else tf.math.is_finite(losses[0])
        first_bad = self.first_nonfinite_step
        first_bad.assign(tf.where((first_bad > 0) | finite, first_bad,
                                  tf.cast(iterations, tf.int64)))  # apply() has counted this step
        return self._record(terms)

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
