#!/usr/bin/env bash
# Creates the peers' venv (PyTorch CPU + pythae), separate from zoo's venv.
# Usage: bash benchmarks/perf/setup_peers.sh [VENV_DIR]   (default: benchmarks/.peers-venv)
set -euo pipefail
VENV="${1:-$(dirname "$0")/../.peers-venv}"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null || PY=python3
"$PY" -m venv "$VENV"
P="$VENV/bin/pip"
"$P" install -q --upgrade pip "setuptools>=77.0.3"
# CPU-only torch, installed first and alone so that nothing later can pull a CUDA build.
# The CPU wheel is on PyPI-compatible find-links here (/opt/wheels); elsewhere use
#   pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
"$P" install -q --no-deps --find-links "${TORCH_WHEELS:-/opt/wheels}" "torch==2.13.0+cpu" \
  || "$P" install -q torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
"$P" install -q filelock typing_extensions sympy networkx jinja2 fsspec
# pythae pins old versions of some deps; install it without deps and add what it imports.
"$P" install -q --no-deps pythae
"$P" install -q "numpy<2.3" scipy scikit-learn "pydantic>=2" imageio tqdm typing_extensions cloudpickle
"$VENV/bin/python" - <<'PY'
from importlib.metadata import version
import torch, pythae
from pythae.models import VAE, VAEConfig
print("torch", torch.__version__, "cuda", torch.version.cuda, "pythae", version("pythae"))
PY
