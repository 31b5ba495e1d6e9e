"""docs/adding-a-model.md's example, built exactly as written, passes the conformance harness."""

from __future__ import annotations

import re
from pathlib import Path

from harness import run_model_test
from zoo.registry import load_registry
from zoo.run_spec import resolve

DOC = Path(__file__).resolve().parent.parent / "docs" / "adding-a-model.md"


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.S)


def test_documented_variant_is_one_subclass_and_one_entry(tmp_path, monkeypatch):
    (python_source,) = code_blocks("python")
    (registry_yaml,) = code_blocks("yaml")
    (tmp_path / "my_zoo_models.py").write_text(python_source)
    (tmp_path / "my_registry.yaml").write_text(registry_yaml)
    monkeypatch.syspath_prepend(str(tmp_path))

    registry = load_registry(tmp_path / "my_registry.yaml")
    spec = resolve(registry.get("student_t_vae"))
    cls = spec.model_class()
    assert cls.__name__ == "StudentTVAE" and spec.model_config().prior_df == 3.0
    # One hook overridden, nothing else.
    overridden = {name for name, value in vars(cls).items() if callable(value) and not isinstance(value, type)
                  and not name.startswith("__")}
    assert overridden == {"prior"}
    metrics = run_model_test(spec, tmp_path)
    # No closed-form KL(Normal ‖ StudentT): the Monte Carlo rate is used and KL per dimension is not reported.
    assert metrics["kl_per_dim"] is None and metrics["rate"] > 0
