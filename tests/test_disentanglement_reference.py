"""zoo's disentanglement metrics reproduce disentanglement_lib 1.5's values on a stored fixture.

tests/fixtures/disentanglement_reference.json holds, for codes and factors regenerated here from fixture.py, the
values disentanglement_lib (dlib) 1.5 computed, in its own venv, from them (its from-codes
functions) and from benchmarks/disentanglement/fixture.py's data set (the sampling metrics at
tiny sizes). They were written by ``python benchmarks/disentanglement/crosscheck.py
--write-fixture``; dlib itself is not needed here. The full cross-check, with dlib's default
sizes, is benchmarks/results/disentanglement/crosscheck.md.

DCI is checked on integer-valued codes (fixture.py's ``quantized``, the sampling run) and, for its formulas, on fixed
importance matrices: on noisy codes its gradient boosting amplifies the last-bit differences of
np.log between numpy 1.26 (dlib's venv) and numpy 2.x into flipped near-tied splits, so no venv with
a different numpy can reproduce dlib's DCI there to 1e-6 (see crosscheck.md).

Each value was computed after ``np.random.seed(seed)`` (dlib's DCI and SAP estimators draw from
numpy's global generator) and, for the sampling metrics, with ``np.random.RandomState(seed)``;
the same is done here.
"""

from __future__ import annotations

import importlib.util
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from zoo.data.factors import FactorGrid, GroundTruthData
from zoo.evaluation.disentanglement import beta_vae_score, dci, factor_vae_score, mig, modularity_explicitness, sap

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
REFERENCE = json.loads((FIXTURES / "disentanglement_reference.json").read_text())
TOLERANCE = REFERENCE["tolerance"]

_spec = importlib.util.spec_from_file_location("dis_fixture", ROOT / "benchmarks" / "disentanglement" / "fixture.py")
fixture = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixture)

# dlib's gin bindings when the reference was computed, as zoo arguments.
ZOO_EXTRA = {"factor_vae": {"prune_threshold": REFERENCE["gin"]["prune_dims.threshold"]},
             "mig": {"num_bins": REFERENCE["gin"]["discretizer.num_bins"]},
             "modularity_explicitness": {"num_bins": REFERENCE["gin"]["discretizer.num_bins"]}}
SAMPLING = {"beta_vae": beta_vae_score.compute_beta_vae_score, "factor_vae": factor_vae_score.compute_factor_vae_score,
            "mig": mig.compute_mig, "sap": sap.compute_sap, "dci": dci.compute_dci,
            "modularity_explicitness": modularity_explicitness.compute_modularity_explicitness}


class FixtureData(GroundTruthData):
    grid = FactorGrid(fixture.FACTOR_NAMES, fixture.FACTOR_SIZES)

    @property
    def observation_shape(self):
        return (len(fixture.FACTOR_SIZES),)

    def observations(self, factors):
        return fixture.render(factors)


def _fixture_arrays(seed: int = 2024) -> dict[str, np.ndarray]:
    """The codes and factors the reference's from-codes values were computed on: the fixture data sampled with
    RandomState(seed), as ``crosscheck.py --write-fixture`` samples them (exact arithmetic, so bit-identical),
    plus the stored importance matrices."""
    data, random_state, arrays = FixtureData(), np.random.RandomState(seed), {}
    for representation in ("entangled", "collapsed"):
        for split, count in (("train", 300), ("test", 150)):
            factors, observations = data.sample(count, random_state)
            arrays[f"{representation}_{split}_codes"] = fixture.REPRESENTATION_FUNCTIONS[representation](observations)
            arrays[f"{representation}_{split}_factors"] = factors
    arrays.update({name: np.asarray(matrix) for name, matrix in REFERENCE["importance_matrices"].items()})
    return arrays


ARRAYS = _fixture_arrays()


def _assert_matches(zoo_scores, dlib_scores, what):
    assert set(zoo_scores) == set(dlib_scores), what
    for key, expected in dlib_scores.items():
        got = float(zoo_scores[key])
        assert (math.isnan(got) and math.isnan(expected)) or abs(got - expected) <= TOLERANCE, (
            f"{what} {key}: zoo {got!r}, disentanglement_lib {expected!r} "
            f"(reference made with {REFERENCE['dlib_versions']})")


def _item_id(item):
    extra = "-continuous" if item.get("continuous_factors") else ""
    return f"{item['metric']}{extra}-{item['representation']}"


def test_fixture_codes_are_the_ones_the_reference_saw():
    # fixture.py's representations, bit for bit: a changed fixture needs --write-fixture again.
    assert fixture.codes_digest() == REFERENCE["codes_digest"]


@pytest.mark.parametrize("item", REFERENCE["from_codes"], ids=_item_id)
def test_from_codes_matches_disentanglement_lib(item):
    metric = item["metric"]
    if metric == "dci_formulas":  # DCI's disentanglement and completeness of a fixed importance matrix
        matrix = ARRAYS[item["matrix"]]
        scores = {"disentanglement": dci.disentanglement(matrix), "completeness": dci.completeness(matrix)}
        _assert_matches(scores, item["scores"], f"DCI formulas on {item['matrix']}")
        return
    codes, factors = ARRAYS[f"{item['train']}_codes"], ARRAYS[f"{item['train']}_factors"]
    test = item.get("test")
    test_codes, test_factors = (ARRAYS[f"{test}_codes"], ARRAYS[f"{test}_factors"]) if test else (None, None)
    np.random.seed(item["seed"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lbfgs's ConvergenceWarning, as in dlib
        if metric == "mig":
            scores = mig.mig_from_codes(codes, factors, num_bins=REFERENCE["gin"]["discretizer.num_bins"])
        elif metric == "sap":
            scores = sap.sap_from_codes(codes, factors, test_codes, test_factors, item["continuous_factors"])
        elif metric == "dci":
            scores = dci.dci_from_codes(codes, factors, test_codes, test_factors)
        elif metric == "modularity_explicitness":
            scores = modularity_explicitness.modularity_explicitness_from_codes(
                codes, factors, test_codes, test_factors, num_bins=REFERENCE["gin"]["discretizer.num_bins"])
        else:
            raise AssertionError(f"unknown metric {metric}")
    _assert_matches(scores, item["scores"], f"{_item_id(item)} from codes")


@pytest.mark.parametrize("run", REFERENCE["sampling"], ids=lambda r: f"{r['metric']}-{r['representation']}")
def test_sampling_metric_matches_disentanglement_lib(run):
    representation = fixture.REPRESENTATION_FUNCTIONS[run["representation"]]
    np.random.seed(run["seed"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = SAMPLING[run["metric"]](FixtureData(), representation, np.random.RandomState(run["seed"]),
                                         **run["sizes"], **ZOO_EXTRA.get(run["metric"], {}))
    _assert_matches(scores, run["scores"], f"{run['metric']} on {run['representation']}")
