"""Gradient contributions added in a fixed order, so a plain (not XLA) CPU step is bit-reproducible.

Where a tensor feeds three or more ops, ``tf.GradientTape`` adds their gradients with one ``AddN`` op, and
Grappler's arithmetic optimiser folds chains of adds into ``AddN`` as well. ``AddN``'s CPU kernel writes its
result into the first input buffer that no other op still holds, and moves that input to the front of the sum.
Which buffer is free depends on thread timing, and ``(a + b) + c`` differs from ``(c + b) + a`` in the last
bits: the same step then gives one of two gradients in a fresh process (the conv VAE's continuous Bernoulli
likelihood adds three terms per pixel; benchmarks/results/conv_determinism_sums.md). A sum of two is exact
either way round, and XLA adds in the graph's order, so only three or more terms in a plain step are affected.

:func:`add_gradients_in_order` makes the tape add three or more dense gradients left to right with two-input
adds, and switches off Grappler's arithmetic optimiser, which would fold them back into ``AddN``. Both are
settings of the process (TensorFlow has no per-function switch for either): ``zoo train`` applies them only
to a deterministic run whose step is not XLA-compiled, before the step is traced.
"""

from __future__ import annotations

import functools

import tensorflow as tf

_applied = False


def _aggregate_in_order(gradients, default):
    if len(gradients) > 2 and all(isinstance(g, tf.Tensor) for g in gradients):
        return functools.reduce(tf.math.add, gradients)
    return default(gradients)  # one or two terms (exact in any order), or IndexedSlices


def add_gradients_in_order() -> bool:
    """Makes this process add gradient contributions in a fixed order; returns whether it does (always true).

    Uses two private TensorFlow hooks (the tape's vector space and its ``_aggregate_grads``), as Keras and TFP do
    not expose the tape's aggregation; an import error here means a TensorFlow release moved them.
    """
    global _applied
    if _applied:
        return True
    from tensorflow.python import pywrap_tfe
    from tensorflow.python.eager import backprop

    default = backprop._aggregate_grads  # noqa: SLF001  (the tape's AddN aggregation)
    space = backprop._default_vspace._replace(  # noqa: SLF001
        aggregate_fn=functools.partial(_aggregate_in_order, default=default))
    pywrap_tfe.TFE_Py_RegisterVSpace(space)
    tf.config.optimizer.set_experimental_options({"arithmetic_optimization": False})
    _applied = True
    return True


def gradients_added_in_order() -> bool:
    """Whether :func:`add_gradients_in_order` has run in this process."""
    return _applied
