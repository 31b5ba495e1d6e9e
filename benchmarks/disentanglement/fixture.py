"""A small deterministic ground-truth data set and three representations, for cross-checking
zoo's disentanglement metrics against disentanglement_lib (dlib).

numpy only, so that both venvs (zoo's and benchmarks/.dlib-venv) can load it by path:

    spec = importlib.util.spec_from_file_location("dis_fixture", ".../fixture.py")

Data: five factors with sizes (3, 6, 10, 8, 8) (14,400 grid points); an observation is the
factor indices themselves as float64, shape (5,); rendering uses no randomness.
``sample_factors`` draws ``random_state.randint(size, size=num)`` once per factor, in factor
order, as dlib's data sets (and zoo's ``FactorGrid``) do.

Representations (10 code dimensions each) are pure functions of the observation batch, and
are built only from IEEE-exact operations (+, -, *, /, abs, integer hashing): no sin, tanh,
exp or BLAS, whose last bits may differ between numpy 1.26 (dlib's venv) and numpy 2.x
(zoo's). Both libraries therefore see bit-identical codes. The "small deterministic
perturbation that depends on the observation only" is a splitmix64 hash of the observation's
grid position (per code dimension), mapped exactly to [-1, 1).

* ``disentangled``: dim k (k < 5) = softsign(2.5 t_k) + 0.15 noise, dim 5 + k = 0.3 t_k^2
  + 0.1 noise, where t_k in [-1, 1] is factor k rescaled. Each factor has one dominant
  monotone code and one weaker sign-blind one.
* ``entangled``: ``disentangled`` followed by a fixed rotation (a product of 15 Givens
  rotations whose cos/sin come from Pythagorean triples, applied column-pair-wise).
* ``collapsed``: ``disentangled`` with dims 3, 6 and 9 collapsed to near-constants (scale
  1e-3, far below FactorVAE's prune threshold 0.05; not exactly constant, since dlib's
  modularity/explicitness divides by the code's standard deviation and crashes on 0/0).
  Factor 3 then survives only in the sign-blind dim 8.
* ``constant_dim`` (edge case): ``disentangled`` with dim 9 exactly constant.
* ``quantized``: integer-valued codes (coarse bins and shared parities) on which DCI's
  gradient boosting is insensitive to numpy's last bits.
"""

from __future__ import annotations

import numpy as np

FACTOR_NAMES = ("a", "b", "c", "d", "e")
FACTOR_SIZES = (3, 6, 10, 8, 8)
NUM_CODES = 10
REPRESENTATIONS = ("disentangled", "entangled", "collapsed")

_STRIDES = np.array([int(np.prod(FACTOR_SIZES[i + 1:])) for i in range(len(FACTOR_SIZES))], dtype=np.int64)
_HALF = np.array([(s - 1) / 2.0 for s in FACTOR_SIZES], dtype=np.float64)


class FixtureData:
    """dlib's GroundTruthData interface (duck-typed; dlib_worker.py wraps it in dlib's base class)."""

    factor_names = list(FACTOR_NAMES)

    @property
    def num_factors(self) -> int:
        return len(FACTOR_SIZES)

    @property
    def factors_num_values(self) -> list[int]:
        return list(FACTOR_SIZES)

    @property
    def observation_shape(self) -> tuple[int]:
        return (len(FACTOR_SIZES),)

    def sample_factors(self, num, random_state):
        factors = np.zeros((num, len(FACTOR_SIZES)), dtype=np.int64)
        for i, size in enumerate(FACTOR_SIZES):
            factors[:, i] = random_state.randint(size, size=num)
        return factors

    def sample_observations_from_factors(self, factors, random_state):
        del random_state
        return render(factors)

    def sample(self, num, random_state):
        factors = self.sample_factors(num, random_state)
        return factors, self.sample_observations_from_factors(factors, random_state)

    def sample_observations(self, num, random_state):
        return self.sample(num, random_state)[1]


def render(factors) -> np.ndarray:
    """(N, 5) factor indices -> (N, 5) float64 observations (the indices themselves)."""
    return np.asarray(factors, dtype=np.int64).astype(np.float64)


def _grid_index(obs: np.ndarray) -> np.ndarray:
    idx = np.rint(obs).astype(np.int64)
    out = np.zeros(idx.shape[0], dtype=np.int64)
    for k in range(idx.shape[1]):
        out = out + idx[:, k] * _STRIDES[k]
    return out


def _hash_noise(obs: np.ndarray, salt: int) -> np.ndarray:
    """splitmix64(grid index, salt) mapped exactly to [-1, 1): a pure function of the observation."""
    with np.errstate(over="ignore"):
        z = _grid_index(obs).astype(np.uint64) + np.uint64((0x9E3779B97F4A7C15 * (salt + 1)) % 2**64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(11)).astype(np.float64) * (2.0 ** -53)  # exact, in [0, 1)
    return 2.0 * u - 1.0


def _rescaled(obs: np.ndarray) -> np.ndarray:
    return (obs - _HALF[None, :]) / _HALF[None, :]  # factor k -> [-1, 1]


def disentangled(obs) -> np.ndarray:
    obs = np.asarray(obs, dtype=np.float64)
    t = _rescaled(obs)
    codes = np.zeros((obs.shape[0], NUM_CODES), dtype=np.float64)
    for k in range(5):
        x = 2.5 * t[:, k]
        codes[:, k] = x / (1.0 + np.abs(x)) + 0.15 * _hash_noise(obs, k)
        codes[:, 5 + k] = 0.3 * t[:, k] * t[:, k] + 0.1 * _hash_noise(obs, 5 + k)
    return codes


# Givens rotations (i, j, cos, sin), cos^2 + sin^2 = 1 from Pythagorean triples.
_TRIPLES = ((3, 4, 5), (5, 12, 13), (8, 15, 17), (7, 24, 25), (20, 21, 29))
_PAIRS = ((0, 5), (1, 6), (2, 7), (3, 8), (4, 9), (0, 1), (2, 3), (4, 5), (6, 7), (8, 9),
          (1, 2), (3, 4), (5, 6), (7, 8), (9, 0))
GIVENS = tuple((i, j, _TRIPLES[n % 5][0] / _TRIPLES[n % 5][2], _TRIPLES[n % 5][1] / _TRIPLES[n % 5][2])
               for n, (i, j) in enumerate(_PAIRS))


def entangled(obs) -> np.ndarray:
    codes = disentangled(obs)
    for i, j, c, s in GIVENS:
        a, b = codes[:, i].copy(), codes[:, j].copy()
        codes[:, i] = c * a - s * b
        codes[:, j] = s * a + c * b
    return codes


COLLAPSED_DIMS = (3, 6, 9)


def collapsed(obs) -> np.ndarray:
    obs = np.asarray(obs, dtype=np.float64)
    codes = disentangled(obs)
    for n, d in enumerate(COLLAPSED_DIMS):
        codes[:, d] = 0.25 * n + 1e-3 * _hash_noise(obs, 100 + d)
    return codes


def constant_dim(obs) -> np.ndarray:
    """``disentangled`` with dim 9 exactly constant: an edge case (FactorVAE prunes it; dlib's
    modularity/explicitness divides 0 by 0 there and fails, zoo's says why)."""
    codes = disentangled(obs)
    codes[:, 9] = 0.5
    return codes


def quantized(obs) -> np.ndarray:
    """Integer-valued codes: dim k = floor(f_k / 2), dim 5 + k = (f_k mod 2) + 2 (f_{k+1} mod 2).

    Every factor is recoverable, each from two dims; the gradient-boosted trees of DCI then
    find splits with clear margins, so DCI does not depend on numpy's last bits (it does on
    the other representations: see crosscheck.md). The regression test's DCI case."""
    f = np.rint(np.asarray(obs, dtype=np.float64))
    codes = np.zeros((f.shape[0], NUM_CODES), dtype=np.float64)
    for k in range(5):
        codes[:, k] = np.floor(f[:, k] / 2.0)
        codes[:, 5 + k] = np.mod(f[:, k], 2.0) + 2.0 * np.mod(f[:, (k + 1) % 5], 2.0)
    return codes


REPRESENTATION_FUNCTIONS = {"disentangled": disentangled, "entangled": entangled, "collapsed": collapsed,
                            "constant_dim": constant_dim, "quantized": quantized}
EXTRA_REPRESENTATIONS = ("constant_dim", "quantized")  # cross-checked at small sizes, seed 0


def codes_digest(num: int = 2000, seed: int = 12345) -> str:
    """SHA-256 of every representation's codes on a fixed sample: both sides print it, so the
    cross-check can show that the two venvs computed bit-identical codes."""
    import hashlib

    obs = FixtureData().sample_observations(num, np.random.RandomState(seed))
    h = hashlib.sha256()
    for name in REPRESENTATIONS + EXTRA_REPRESENTATIONS:
        h.update(np.ascontiguousarray(REPRESENTATION_FUNCTIONS[name](obs), dtype="<f8").tobytes())
    return h.hexdigest()
