"""The package's layering: checked by import-linter (the contract in pyproject.toml) and by the AST here."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "zkml"
# the imports of the package facade from inside it: none (Circuit.setup reaches the keys stage through a registered hook)
FACADE_IMPORTS: set[str] = set()
# import cycles between zkml modules that are tolerated, each a set of module names with the reason: none. A shared
# piece moves down into a module both import (zkml.srs_format, zkml.circuit.sizes) so that imports go one way.
ALLOWED_CYCLES: list[set[str]] = []


def _imports(path: Path, root: Path = ROOT, *, type_checking: bool = True):
    """(module imported, line) for every import in ``path``, function-level ones included, resolved to absolute
    names. ``from X import name`` counts as importing X only when ``name`` is not a submodule of X.
    ``type_checking=False`` leaves out the imports under ``if TYPE_CHECKING:`` (never run)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    package = parts[:-1]
    tree = ast.parse(path.read_text())
    skip: set[int] = set()
    if not type_checking:
        for node in ast.walk(tree):
            test = getattr(node, "test", None)
            if isinstance(node, ast.If) and getattr(test, "id", getattr(test, "attr", "")) == "TYPE_CHECKING":
                skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            here = root.joinpath(*mod.split("."))
            subs = [a.name for a in node.names if (here / f"{a.name}.py").exists() or (here / a.name).is_dir()]
            if len(subs) < len(node.names):
                yield mod, node.lineno
            for name in subs:
                yield f"{mod}.{name}", node.lineno
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if name in ("need", "import_module", "__import__") and isinstance(node.args[0].value, str):
                yield node.args[0].value, node.lineno


def test_import_linter_contract_holds():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe, "import-linter is a dev dependency: pip install -e '.[dev]'"
    res = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert "zkml layers KEPT" in res.stdout


def test_only_the_engine_talks_to_ezkl():
    users = sorted(
        {
            str(p.relative_to(ROOT))
            for p in PKG.rglob("*.py")
            for mod, _ in _imports(p)
            if mod == "ezkl" or mod.startswith("ezkl.")
        }
    )
    assert users == ["zkml/engine.py"]


def test_the_facade_is_imported_only_where_documented():
    found = {
        str(p.relative_to(ROOT))
        for p in PKG.rglob("*.py")
        if p.parent != PKG or p.name != "__init__.py"
        for mod, _ in _imports(p)
        if mod == "zkml"
    }
    found = {f for f in found if not f.startswith("zkml/cli/")}  # the top layer may use the public API
    assert found <= FACADE_IMPORTS, found


def test_zoo_benchmarks_and_examples_use_the_public_api():
    allowed = ("zkml", "zkml.evm", "zkml.errors", "zkml.internals", "zkml.cli")
    bad = []
    for d in ("models", "benchmarks", "examples"):
        for p in (ROOT / d).rglob("*.py"):
            for mod, line in _imports(p):
                top = mod.split(".")
                if top[0] == "zkml" and not any(
                    mod == a or mod.startswith(a + ".") and mod.count(".") == a.count(".") + 1 for a in allowed
                ):
                    bad.append(f"{p.relative_to(ROOT)}:{line}: {mod}")
    assert not bad, bad


def test_the_checker_sees_function_level_imports(tmp_path):
    """The AST walk the checks above rely on finds imports inside functions, relative ones resolved."""
    src = tmp_path / "zkml" / "model" / "x.py"
    (tmp_path / "zkml" / "keys").mkdir(parents=True)
    (tmp_path / "zkml" / "keys" / "keys.py").write_text("")
    src.parent.mkdir(parents=True)
    src.write_text("def f():\n    from ..keys import keys\n    from .. import setup\n    import ezkl\n")
    mods = {m for m, _ in _imports(src, tmp_path)}
    assert {"zkml.keys.keys", "zkml", "ezkl"} <= mods


def _module_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Every module of the zkml package under ``root`` and the zkml modules it imports: top-level and
    function-level imports, relative ones resolved (``_imports``), ``if TYPE_CHECKING:`` ones left out. An imported
    name that is not a module (``from zkml.x import f``) is an import of the module that holds it."""
    modules = {}
    for p in (root / "zkml").rglob("*.py"):
        parts = list(p.relative_to(root).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    graph: dict[str, set[str]] = {}
    for mod, p in modules.items():
        graph[mod] = set()
        for name, _ in _imports(p, root, type_checking=False):
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != mod:
                graph[mod].add(name)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The import cycles: each strongly connected component of two or more modules (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles_between_zkml_modules():
    """No two zkml modules import each other, directly or around a loop, counting imports inside functions."""
    graph = _module_graph()
    # the walk sees the real tree's imports, function-level ones included (split.first_feeds imports model.inputs)
    assert "zkml.circuit.build" in graph["zkml.circuit.compiler"] and "zkml.model.inputs" in graph["zkml.circuit.split"]
    cycles = _cycles(graph)
    assert [c for c in cycles if c not in ALLOWED_CYCLES] == [], "import cycles: " + "; ".join(
        " <-> ".join(sorted(c)) for c in cycles
    )
    stale = [c for c in ALLOWED_CYCLES if c not in cycles]
    assert not stale, f"these allowed cycles are gone: take them off ALLOWED_CYCLES: {stale}"


def test_the_cycle_finder_finds_cycles(tmp_path):
    """The control: the finder reports a cycle in a graph that has one, and one made by a function-level
    relative import in a package on disk."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    assert _cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []
    pkg = tmp_path / "zkml" / "stage"
    pkg.mkdir(parents=True)
    (tmp_path / "zkml" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "low.py").write_text("def f():\n    from .high import g\n    return g\n")
    (pkg / "high.py").write_text("from .low import f\n\ndef g():\n    return f\n")
    (pkg / "typed.py").write_text("from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from .user import U\n")
    (pkg / "user.py").write_text("from .typed import TYPE_CHECKING\n")
    graph = _module_graph(tmp_path)
    assert graph["zkml.stage.low"] == {"zkml.stage.high"} and graph["zkml.stage.typed"] == set()
    assert _cycles(graph) == [{"zkml.stage.low", "zkml.stage.high"}]
