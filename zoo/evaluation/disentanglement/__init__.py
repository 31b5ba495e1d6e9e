"""Disentanglement metrics, one module per metric, each following disentanglement_lib's protocol.

Every ``compute_*`` function takes a ``zoo.data.factors.GroundTruthData``, a representation
function (images -> codes, e.g. the posterior mean) and a ``numpy.random.RandomState``, with
the sample sizes of disentanglement_lib's metric configs as defaults, and draws its random
numbers in disentanglement_lib's order, so both give the same value on the same inputs
(benchmarks/disentanglement/crosscheck.py) — for DCI only with the same numpy: its boosted trees
amplify last-bit differences of ``np.log`` / ``np.exp`` between numpy versions.
"""
