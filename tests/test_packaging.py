"""The wheel works on its own: built from this checkout and installed into a plain folder, `zoo list`
reads the registry the wheel carries, run from outside the repository.

The wheel is built without build isolation (no download: the backend comes with the test extra).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_installed_wheel_lists_the_builtin_models(tmp_path):
    pytest.importorskip("hatchling", reason="the build backend comes with the test extra: pip install -e '.[test]'")
    wheels, site = tmp_path / "wheels", tmp_path / "site"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation",
                            "--quiet", "-w", str(wheels)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = wheels.glob("zoo-*.whl")
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target",
                                str(site), str(wheel)], capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr[-3000:]
    assert (site / "zoo" / "registry.yaml").read_text() == (REPO / "registry.yaml").read_text()

    script = (f"import sys; sys.path.insert(0, {str(site)!r}); import zoo.cli, zoo.registry; "
              "print('FROM', zoo.cli.__file__, zoo.registry.BUILTIN_REGISTRY, file=sys.stderr); "
              "zoo.cli.app(prog_name='zoo')")
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "ZOO_REGISTRY")}
    result = subprocess.run([sys.executable, "-c", script, "list"], capture_output=True, text=True, cwd=tmp_path,
                            env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    names = [line.split()[0] for line in result.stdout.splitlines() if line.strip()]
    assert "vae" in names and "cvae" in names, result.stdout
    (origin,) = [line.split()[1:] for line in result.stderr.splitlines() if line.startswith("FROM ")]
    assert all(Path(path).is_relative_to(site) for path in origin), origin
