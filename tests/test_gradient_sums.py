"""zoo.training.gradient_sums: three or more gradient contributions are added in a fixed order, not by AddN.

The settings are process-wide (the tape's vector space, Grappler's options), so each check runs in a fresh
Python process and this test process keeps TensorFlow's defaults.
"""

import json
import subprocess
import sys

import pytest

# A tensor x feeds three ops; the gradient of their sum with respect to x has three contributions, which the
# tape adds. The script reports the optimised graph's adds and the gradient's bits.
_SCRIPT = r"""
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
import tensorflow as tf
from tensorflow.python.eager import context

if sys.argv[1] == "in-order":
    from zoo.training.gradient_sums import add_gradients_in_order, gradients_added_in_order
    assert not gradients_added_in_order()
    assert add_gradients_in_order() and add_gradients_in_order() and gradients_added_in_order()

rng = np.random.default_rng(0)
# Magnitudes far apart, so that the order of the three additions shows in the last bits.
terms = [rng.normal(size=4096).astype("float32") * scale for scale in (1e4, 1.0, 1e-4)]
a, b, c = (tf.constant(t) for t in terms)
x = tf.constant(rng.normal(size=4096).astype("float32"))

@tf.function
def gradient():
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(x * a) + tf.reduce_sum(tf.sin(x) * b) + tf.reduce_sum(tf.exp(x) * c)
    return tape.gradient(y, x)

@tf.function
def contributions():  # each term's gradient on its own: no sum, so no order
    grads = []
    for term in (lambda: tf.reduce_sum(x * a), lambda: tf.reduce_sum(tf.sin(x) * b),
                 lambda: tf.reduce_sum(tf.exp(x) * c)):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = term()
        grads.append(tape.gradient(y, x))
    return grads

context.context().enable_run_metadata()
g = gradient().numpy()
meta = context.context().export_run_metadata()
nodes = [n for f in meta.function_graphs for n in f.post_optimization_graph.node]
parts = [p.numpy() for p in contributions()]
print(json.dumps({
    "addn_inputs": [sum(not i.startswith("^") for i in n.input) for n in nodes if n.op == "AddN"],
    "gradient": g.view(np.uint32).tolist(),
    "contributions": [p.astype("float32").view(np.uint32).tolist() for p in parts],
}))
"""


def _run(mode: str) -> dict:
    done = subprocess.run([sys.executable, "-c", _SCRIPT, mode], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def runs():
    return {mode: _run(mode) for mode in ("tf-default", "in-order")}


def test_tensorflow_sums_three_gradient_contributions_with_one_addn(runs):
    # The hazard this module removes: one AddN over all three contributions, whose CPU kernel reorders its
    # inputs by which buffer it can reuse.
    assert 3 in runs["tf-default"]["addn_inputs"]


def test_in_order_leaves_no_addn_of_more_than_two(runs):
    assert all(n <= 2 for n in runs["in-order"]["addn_inputs"])


def test_in_order_gradient_is_a_left_to_right_sum_of_the_contributions(runs):
    import itertools

    import numpy as np

    got = np.array(runs["in-order"]["gradient"], dtype=np.uint32).view(np.float32)
    parts = [np.array(p, dtype=np.uint32).view(np.float32) for p in runs["in-order"]["contributions"]]
    # One float32 addition rounds alike in numpy and TF, so each order of adding gives these exact bits.
    sums = [(x + y) + z for x, y, z in itertools.permutations(parts)]
    assert len({s.tobytes() for s in sums}) > 1  # the order shows in these numbers
    # The tape hands over the contributions in the order of its own bookkeeping (a fixed one, from the
    # graph); the sum is the same three numbers added two at a time, bit for bit.
    assert any(np.array_equal(got, s) for s in sums)
