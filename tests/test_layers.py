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


def _imports(path: Path, root: Path = ROOT):
    """(module imported, line) for every import in ``path``, function-level ones included, resolved to absolute
    names. ``from X import name`` counts as importing X only when ``name`` is not a submodule of X."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    package = parts[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
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
