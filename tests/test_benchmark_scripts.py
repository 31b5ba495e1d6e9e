"""The benchmark scripts' references to each other resolve.

The scripts under benchmarks/ run in the peers' venv or for an hour, so CI does not run them; a helper
moved from one script to another (``throughput.machine`` into machine.py) broke variants.py only when it was
next run. Read with ``ast``: every ``import sibling`` / ``from sibling import name`` of a script in the same
folder, and every ``sibling.name`` it reads, must name something the sibling defines at its top level.
"""
from __future__ import annotations

import ast
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names


def unresolved_references(script: Path) -> list[str]:
    siblings = {path.stem: path for path in script.parent.glob("*.py") if path != script}
    tree = ast.parse(script.read_text(), filename=str(script))
    defined = {name: top_level_names(ast.parse(path.read_text())) for name, path in siblings.items()}
    imported: dict[str, str] = {}  # local name -> sibling module
    wanted: list[tuple[str, str, int]] = []  # (sibling, name, line)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in siblings:
                    imported[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in siblings:
            wanted += [(node.module, alias.name, node.lineno) for alias in node.names]
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in imported:
            wanted.append((imported[node.value.id], node.attr, node.lineno))
    return [f"{script.parent.name}/{script.name}:{line}: {module}.{name} is not defined in {module}.py"
            for module, name, line in wanted if name not in defined[module]]


def test_every_reference_to_a_sibling_script_names_what_it_defines():
    scripts = sorted(BENCHMARKS.rglob("*.py"))
    assert len(scripts) > 10, "the benchmark scripts moved"
    problems = [problem for script in scripts for problem in unresolved_references(script)]
    assert not problems, "\n".join(problems)


def test_a_stale_reference_is_found(tmp_path):
    (tmp_path / "helpers.py").write_text("import os\nLIMIT = 3\n\ndef launch():\n    pass\n")
    script = tmp_path / "runner.py"
    script.write_text("import helpers\nfrom helpers import LIMIT, os\nhelpers.launch()\nhelpers.machine()\n"
                      "from helpers import describe\n")
    problems = unresolved_references(script)
    assert [p.split(": ", 1)[1] for p in problems] == ["helpers.describe is not defined in helpers.py",
                                                       "helpers.machine is not defined in helpers.py"]
