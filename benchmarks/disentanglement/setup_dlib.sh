#!/usr/bin/env bash
# Creates the reference venv for the disentanglement cross-check: disentanglement_lib 1.5
# (unmodified, from the package index) plus only what its metric modules import.
# Usage: bash benchmarks/disentanglement/setup_dlib.sh [VENV_DIR]   (default: benchmarks/.dlib-venv)
# Idempotent: re-running reuses the venv and re-checks the pinned versions.
#
# disentanglement-lib 1.5 pins TensorFlow 1.14 / tensorflow-probability 0.7 / pandas /
# matplotlib ...; none of that is needed by evaluation/metrics/*, so it is installed with
# --no-deps. What the metric modules import: numpy, scipy, scikit-learn, six, absl-py,
# gin-config and `gin.tf`. gin.tf imports tensorflow and subclasses
# tf.estimator.SessionRunHook (tf.estimator is gone from TensorFlow >= 2.16), so the newest
# TensorFlow it works with is 2.15; tensorflow-cpu 2.15.1 is the CPU build for Python 3.11
# (it caps numpy < 2, hence numpy 1.26.4 here vs numpy 2.x in zoo's venv). gin-config 0.4.0:
# dlib writes @gin.configurable(..., blacklist=...), which 0.5.0 no longer accepts (0.4.0
# accepts it with a deprecation warning). The venv is ~1.5 GB, ~1 GB of it TensorFlow and its deps.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV="${1:-$ROOT/benchmarks/.dlib-venv}"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null || { echo "setup_dlib: needs python3.11 (gin.tf needs distutils, gone in 3.12)" >&2; exit 1; }

# scikit-learn and scipy: the versions in zoo's venv when it exists (same estimators, same
# numerics), else the versions zoo was cross-checked with.
ZOO_PY="$ROOT/.venv/bin/python"
SKLEARN_VERSION="${SKLEARN_VERSION:-}"
SCIPY_VERSION="${SCIPY_VERSION:-}"
if [ -x "$ZOO_PY" ]; then
  [ -n "$SKLEARN_VERSION" ] || SKLEARN_VERSION="$("$ZOO_PY" -c 'import sklearn; print(sklearn.__version__)')"
  [ -n "$SCIPY_VERSION" ] || SCIPY_VERSION="$("$ZOO_PY" -c 'import scipy; print(scipy.__version__)')"
fi
SKLEARN_VERSION="${SKLEARN_VERSION:-1.9.1}"
SCIPY_VERSION="${SCIPY_VERSION:-1.17.1}"
TF_VERSION="${TF_VERSION:-2.15.1}"

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
P="$VENV/bin/pip"
"$P" install -q --upgrade pip
# TensorFlow first (it fixes numpy < 2), then the scientific stack pinned on top of it.
"$P" install -q "tensorflow-cpu==$TF_VERSION"
"$P" install -q "numpy==1.26.4" "scipy==$SCIPY_VERSION" "scikit-learn==$SKLEARN_VERSION" \
  six absl-py "gin-config==0.4.0"
# The reference itself, without its TF1-era pins (pip then lists them as "requires ..., which is not
# installed": expected, the metric modules do not import them).
"$P" install -q --no-deps "disentanglement-lib==1.5"

"$VENV/bin/python" - <<'PY'
import importlib.metadata as md
import os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import gin.tf  # noqa: F401  (what every dlib metric module imports)
from disentanglement_lib.evaluation.metrics import (  # noqa: F401
    beta_vae, dci, factor_vae, mig, modularity_explicitness, sap_score, utils)
names = ["disentanglement-lib", "numpy", "scipy", "scikit-learn", "six", "absl-py",
         "gin-config", "tensorflow-cpu"]
print("dlib venv:", sys.prefix, "python", sys.version.split()[0])
for n in names:
    print(f"  {n}=={md.version(n)}")
PY
echo "  size: $(du -sh "$VENV" | cut -f1)"
