"""The import structure of ``zoo``: its module graph has no cycles, and the light commands stay light.

The graph is read from the source with ``ast``: every ``import``/``from ... import`` anywhere in a
module (at module level or inside a function, since a lazy import is still a dependency) that names a
zoo module is an edge to that module's file (a package's ``__init__.py``). ``from zoo.a import b``
goes to ``zoo/a/b.py`` when that file exists, else to ``zoo.a`` (``b`` is a name defined there).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "zoo"
HEAVY = ("tensorflow", "keras", "tensorflow_probability")


def module_files() -> dict[str, Path]:
    """Dotted name -> file of every module under zoo/ (a package by its ``__init__.py``)."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def imported_modules(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The zoo modules that ``name`` (at ``path``) imports anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def add(target: str) -> None:
        # ``import zoo.a.b`` of a namespace package's child, or a module that does not exist: its longest
        # existing prefix (Python imports that one too).
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target and target != name:
            found.add(target)

    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "zoo" or alias.name.startswith("zoo."):
                    add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            if source != "zoo" and not source.startswith("zoo."):
                continue
            for alias in node.names:
                child = f"{source}.{alias.name}"
                add(child if child in modules else source)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imported_modules(name, path, modules) for name, path in modules.items()}


def strongly_connected_components(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (the graph is small, but recursion depth should not depend on it)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def describe(component: list[str], graph: dict[str, set[str]]) -> str:
    members = set(component)
    edges = [f"{a} -> {b}" for a in component for b in sorted(graph[a] & members)]
    return f"{{{', '.join(component)}}}: " + "; ".join(edges)


def test_the_graph_is_read_from_the_source():
    graph = import_graph()
    # A module-level import, a lazy one inside a function, and a from-import of a module.
    assert "zoo.errors" in graph["zoo.cli"]
    assert "zoo.registry" in graph["zoo.cli"]
    assert "zoo.bench.budgets" in graph["zoo.bench.runner"]
    assert strongly_connected_components({"a": {"b"}, "b": {"a", "c"}, "c": set()}) == [["c"], ["a", "b"]]


def test_zoo_has_no_import_cycles():
    graph = import_graph()
    cycles = [c for c in strongly_connected_components(graph) if len(c) > 1]
    assert not cycles, "import cycles in zoo/ (an edge is any import, also inside a function):\n" + "\n".join(
        describe(c, graph) for c in cycles)


def imported_names() -> list[tuple[str, str, str]]:
    """(importing module, zoo module, name) of every ``from zoo.x import name`` anywhere in zoo/, lazy ones
    inside functions included."""
    found = []
    for name, path in module_files().items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            if source == "zoo" or source.startswith("zoo."):
                found += [(name, source, alias.name) for alias in node.names if alias.name != "*"]
    return found


def test_every_name_imported_from_a_zoo_module_exists():
    # A lazy import inside a function fails only when that function runs: a renamed helper (the disentanglement
    # figures once imported a private name that had moved) would break one command and nothing at import time.
    script = (
        "import importlib, importlib.util, json, sys\n"
        "missing = []\n"
        "for importer, source, name in json.loads(sys.argv[1]):\n"
        "    try:\n"
        "        module = importlib.import_module(source)\n"
        "    except ImportError as error:\n"
        "        missing.append(f'{importer}: import {source} fails: {error}')\n"
        "        continue\n"
        "    submodule = hasattr(module, '__path__') and importlib.util.find_spec(f'{source}.{name}') is not None\n"
        "    if not hasattr(module, name) and not submodule:\n"
        "        missing.append(f'{importer}: from {source} import {name}')\n"
        "print('MISSING:', missing)\n"
    )
    import json

    names = imported_names()
    assert len(names) > 100 and ("zoo.cli", "zoo.errors", "ZooError") in names
    result = subprocess.run([sys.executable, "-c", script, json.dumps(names)], capture_output=True, text=True,
                            cwd=REPO, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "MISSING: []" in result.stdout, result.stdout[-3000:]


def test_list_and_help_do_not_import_tensorflow(tmp_path):
    # A fresh process from outside the repository: nothing imported earlier by the tests can hide an import.
    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from zoo.cli import app\n"
        "runner = CliRunner()\n"
        "for args in (['list'], ['--help'], ['train', '--help']):\n"
        "    result = runner.invoke(app, args, prog_name='zoo')\n"
        "    assert result.exit_code == 0, (args, result.output, result.exception)\n"
        "    print(result.output)\n"
        f"print('HEAVY:', sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "HEAVY: []" in result.stdout, result.stdout[-3000:]
    assert "conv_vae_cartoon" in result.stdout and "Usage: zoo" in result.stdout


def test_help_shows_what_to_type_not_python_types():
    """Every command's --help names its values (N, X, PATH, RUN_DIR) instead of Typer's <int>, <str>, <bool>."""
    import re

    from typer.testing import CliRunner

    from zoo.cli import app

    runner = CliRunner()
    for command in ([], ["list"], ["train"], ["evaluate"], ["sample"], ["tune"], ["bench"]):
        result = runner.invoke(app, [*command, "--help"], prog_name="zoo", env={"COLUMNS": "80"})
        assert result.exit_code == 0, (command, result.output)
        assert not re.findall(r"<[a-z\[\]]+>", result.output), (command, result.output)
    evaluate = runner.invoke(app, ["evaluate", "--help"], prog_name="zoo", env={"COLUMNS": "80"}).output
    assert "RUN_DIR" in evaluate and "--iw-samples" in evaluate and " N " in evaluate
