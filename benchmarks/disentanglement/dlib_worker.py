"""Runs disentanglement_lib 1.5's unmodified metrics on the cross-check fixture; writes JSON.

Runs in benchmarks/.dlib-venv (bash benchmarks/disentanglement/setup_dlib.sh), started by
crosscheck.py:

    benchmarks/.dlib-venv/bin/python benchmarks/disentanglement/dlib_worker.py SPEC.json OUT.json

SPEC.json: {"runs": [{"metric", "representation", "seed", "sizes": {...}}, ...],
            "from_codes": {"npz": PATH, "items": [{"metric", "seed", ...}]},   (optional)
            "zoo_runs": [run, ...]}                                              (optional)

"zoo_runs" is the cross-check's diagnosis of a disagreement: zoo's own metric modules (numpy,
scipy and sklearn only) loaded by path into this venv and run exactly as crosscheck.py runs
them, so that zoo's code and dlib's see the same numpy. If they then agree, the disagreement
comes from the environment (numpy 1.26 here vs 2.x in zoo's venv), not from zoo's code.

Every sample-size argument is passed explicitly; the gin bindings are those of dlib's
metric configs (config/unsupervised_study_v1/metric_configs/*.gin): the histogram
discretizer with 20 bins (MIG, modularity) and prune_dims.threshold = 0.05 (FactorVAE).
Each call gets ``np.random.RandomState(seed)``; and since dlib leaves some sklearn
estimators with random_state=None (DCI's GradientBoostingClassifier, SAP's LinearSVC), which
then draw from numpy's global generator, ``np.random.seed(seed)`` is called right before
every metric call, here and identically in crosscheck.py's zoo runs.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
logging.getLogger().setLevel(logging.ERROR)  # gin 0.4's "blacklist is deprecated" warnings

import gin  # noqa: E402
import gin.tf  # noqa: E402,F401
import numpy as np  # noqa: E402
from absl import logging as absl_logging  # noqa: E402
from disentanglement_lib.data.ground_truth import ground_truth_data as dlib_gtd  # noqa: E402
from disentanglement_lib.evaluation.metrics import beta_vae, dci, factor_vae, mig  # noqa: E402
from disentanglement_lib.evaluation.metrics import modularity_explicitness, sap_score, utils  # noqa: E402

absl_logging.set_verbosity(absl_logging.ERROR)

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("dis_fixture", HERE / "fixture.py")
fixture = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixture)

GIN_CONFIG = """
discretizer.discretizer_fn = @histogram_discretizer
discretizer.num_bins = 20
prune_dims.threshold = 0.05
"""


class FixtureGroundTruthData(dlib_gtd.GroundTruthData):
    """The fixture behind dlib's own GroundTruthData base class (its sample/sample_observations)."""

    def __init__(self):
        self._d = fixture.FixtureData()

    @property
    def num_factors(self):
        return self._d.num_factors

    @property
    def factors_num_values(self):
        return self._d.factors_num_values

    @property
    def observation_shape(self):
        return self._d.observation_shape

    def sample_factors(self, num, random_state):
        return self._d.sample_factors(num, random_state)

    def sample_observations_from_factors(self, factors, random_state):
        return self._d.sample_observations_from_factors(factors, random_state)


def _call(metric, data, rep, rs, s):
    if metric == "beta_vae":
        return beta_vae.compute_beta_vae_sklearn(
            data, rep, rs, batch_size=s["batch_size"], num_train=s["num_train"], num_eval=s["num_eval"])
    if metric == "factor_vae":
        return factor_vae.compute_factor_vae(
            data, rep, rs, batch_size=s["batch_size"], num_train=s["num_train"], num_eval=s["num_eval"],
            num_variance_estimate=s["num_variance_estimate"])
    if metric == "mig":
        return mig.compute_mig(data, rep, rs, num_train=s["num_train"], batch_size=s["batch_size"])
    if metric == "sap":
        return sap_score.compute_sap(data, rep, rs, num_train=s["num_train"], num_test=s["num_test"],
                                     batch_size=s["batch_size"], continuous_factors=s["continuous_factors"])
    if metric == "dci":
        return dci.compute_dci(data, rep, rs, num_train=s["num_train"], num_test=s["num_test"],
                               batch_size=s["batch_size"])
    if metric == "modularity_explicitness":
        return modularity_explicitness.compute_modularity_explicitness(
            data, rep, rs, num_train=s["num_train"], num_test=s["num_test"], batch_size=s["batch_size"])
    raise ValueError(f"unknown metric {metric!r}")


def _modularity_explicitness_from_codes(mus_train, ys_train, mus_test, ys_test):
    """dlib has no from-codes function for this metric: the body of its
    compute_modularity_explicitness after sampling, line for line, with dlib's own functions."""
    scores = {}
    discretized_mus = utils.make_discretizer(mus_train)
    mutual_information = utils.discrete_mutual_info(discretized_mus, ys_train)
    scores["modularity_score"] = modularity_explicitness.modularity(mutual_information)
    explicitness_score_train = np.zeros([ys_train.shape[0], 1])
    explicitness_score_test = np.zeros([ys_test.shape[0], 1])
    mus_train_norm, mean_mus, stddev_mus = utils.normalize_data(mus_train)
    mus_test_norm, _, _ = utils.normalize_data(mus_test, mean_mus, stddev_mus)
    for i in range(ys_train.shape[0]):
        explicitness_score_train[i], explicitness_score_test[i] = modularity_explicitness.explicitness_per_factor(
            mus_train_norm, ys_train[i, :], mus_test_norm, ys_test[i, :])
    scores["explicitness_score_train"] = np.mean(explicitness_score_train)
    scores["explicitness_score_test"] = np.mean(explicitness_score_test)
    return scores


def _from_codes(metric, arrays, item):
    """Codes in the npz are (N, num_codes) / (N, num_factors); dlib wants them transposed."""
    if metric == "dci_formulas":  # DCI's two formulas on a fixed (num_codes, num_factors) importance matrix
        m = arrays[item["matrix"]]
        return {"disentanglement": dci.disentanglement(m), "completeness": dci.completeness(m)}
    tr = item["train"]
    mus, ys = arrays[f"{tr}_codes"].T, arrays[f"{tr}_factors"].T
    te = item.get("test")
    mus_t, ys_t = (arrays[f"{te}_codes"].T, arrays[f"{te}_factors"].T) if te else (None, None)
    if metric == "mig":
        return mig._compute_mig(mus, ys)
    if metric == "sap":
        return sap_score._compute_sap(mus, ys, mus_t, ys_t, item["continuous_factors"])
    if metric == "dci":
        return dci._compute_dci(mus, ys, mus_t, ys_t)
    if metric == "modularity_explicitness":
        return _modularity_explicitness_from_codes(mus, ys, mus_t, ys_t)
    raise ValueError(f"no from-codes function for {metric!r}")


def _load_zoo_by_path():
    """zoo's metric modules and crosscheck.py, loaded by path (zoo's package __init__s import TensorFlow 2.2x)."""
    import types

    root = HERE.parents[1]
    for pkg in ("zoo", "zoo.data", "zoo.evaluation", "zoo.evaluation.disentanglement"):
        mod = types.ModuleType(pkg)
        mod.__path__ = [str(root / pkg.replace(".", "/"))]
        sys.modules[pkg] = mod
        if "." in pkg:
            parent, _, leaf = pkg.rpartition(".")
            setattr(sys.modules[parent], leaf, mod)

    def load(name, path):
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
        parent, _, leaf = name.rpartition(".")
        if parent in sys.modules:
            setattr(sys.modules[parent], leaf, mod)
        return mod

    load("zoo.data.factors", root / "zoo" / "data" / "factors.py")
    for name in ("utils", "mig", "sap", "dci", "modularity_explicitness", "beta_vae_score", "factor_vae_score"):
        load(f"zoo.evaluation.disentanglement.{name}", root / "zoo" / "evaluation" / "disentanglement" / f"{name}.py")
    return load("dis_crosscheck", HERE / "crosscheck.py")


def _clean(d):
    return {k: (int(v) if isinstance(v, (int, np.integer)) else float(v)) for k, v in d.items()}


def main(spec_path: str, out_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    gin.parse_config(GIN_CONFIG)
    data = FixtureGroundTruthData()
    out = {"codes_digest": fixture.codes_digest(), "runs": [], "from_codes": []}
    for run in spec.get("runs", []):
        rep = fixture.REPRESENTATION_FUNCTIONS[run["representation"]]
        t0 = time.perf_counter()
        np.random.seed(run["seed"])
        try:
            result = {"scores": _clean(_call(run["metric"], data, rep, np.random.RandomState(run["seed"]),
                                             run["sizes"]))}
        except Exception as e:  # an edge case the reference fails on: recorded, compared by type
            result = {"error": f"{type(e).__name__}: {e}"}
        secs = time.perf_counter() - t0
        out["runs"].append({**run, **result, "seconds": round(secs, 3)})
        print(f"dlib {run['metric']:<24} {run['representation']:<12} seed {run['seed']}  {secs:7.1f} s  "
              f"{result.get('scores', result.get('error'))}", file=sys.stderr, flush=True)
    fc = spec.get("from_codes")
    if fc:
        arrays = dict(np.load(fc["npz"]))
        for item in fc["items"]:
            np.random.seed(item["seed"])
            scores = _from_codes(item["metric"], arrays, item)
            out["from_codes"].append({**item, "scores": _clean(scores)})
    if spec.get("zoo_runs"):
        out["zoo_runs"] = _load_zoo_by_path().run_zoo(spec["zoo_runs"], verbose=False)
    import disentanglement_lib, sklearn, scipy  # noqa: E401
    import importlib.metadata as md
    out["versions"] = {"disentanglement-lib": md.version("disentanglement-lib"), "numpy": np.__version__,
                       "scipy": scipy.__version__, "scikit-learn": sklearn.__version__,
                       "gin-config": md.version("gin-config"), "tensorflow-cpu": md.version("tensorflow-cpu"),
                       "python": sys.version.split()[0]}
    del disentanglement_lib
    Path(out_path).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: dlib_worker.py SPEC.json OUT.json")
    main(sys.argv[1], sys.argv[2])
