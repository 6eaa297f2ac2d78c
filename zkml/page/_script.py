"""The page's one script: ``src/verify.mjs`` and the npm packages it imports, bundled by esbuild.

It is built when a page is written (esbuild takes well under a second) and cached in the store under a
hash of the source, the lockfile and the ceremony table, so the repository holds the source and the lockfile, not
a build. zkml's table of ceremony SRS digests is compiled into the script (esbuild ``define``) as code: the page's
data (model.json, the inline blob) cannot add a ceremony.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from ..errors import DependencyError, StoreError
from ..srs import known_ceremony_digests
from ..support.checkout import find_upwards
from ..support.hashing import sha256_bytes
from ..support.store import Store

SOURCE = Path(__file__).with_name("src") / "verify.mjs"
SCRIPT_NAME = "verify.js"
_NPM_HINT = "run `npm ci` in the zkml checkout (make env does it), or set ZKML_NODE_MODULES to a node_modules with esbuild and @ethereumjs/evm"


def node_modules() -> Path:
    """The node_modules that holds esbuild and @ethereumjs/evm: $ZKML_NODE_MODULES, then upwards from cwd and package."""
    env = os.environ.get("ZKML_NODE_MODULES")
    if env and (Path(env) / "esbuild" / "package.json").is_file():
        return Path(env)
    found = find_upwards("node_modules/esbuild/package.json")
    if found is None:
        raise DependencyError(
            "npm's esbuild is not installed: it bundles the page's in-browser EVM", stage="page", hint=_NPM_HINT
        )
    nm = found.parents[1]
    if not (nm / "@ethereumjs" / "evm" / "package.json").is_file():
        raise DependencyError(
            "npm's @ethereumjs/evm is not installed: the page runs the verifier in it",
            stage="page",
            where=nm,
            hint=_NPM_HINT,
        )
    return nm


def page_script(store: Store | None = None, *, ceremonies: dict[str, str] | None = None) -> bytes:
    """The bundled, minified ``verify.js`` (built once per source, lockfile and ceremony table), with
    ``ceremonies`` (sha256 -> name; default zkml's own table, ``zkml.srs.known_ceremony_digests``) compiled in."""
    nm = node_modules()
    lock = nm.parent / "package-lock.json"
    table = json.dumps(
        {str(k).lower(): str(v) for k, v in (known_ceremony_digests() if ceremonies is None else ceremonies).items()},
        sort_keys=True,
        separators=(",", ":"),
    )
    lockfile = lock.read_bytes() if lock.is_file() else str(nm).encode()
    key = sha256_bytes(SOURCE.read_bytes() + b"\0" + lockfile + b"\0" + table.encode())[:40]

    def build(d: Path) -> None:
        _esbuild(nm, d / SCRIPT_NAME, table)

    entry, _ = (store or Store()).get_or_build("page-script", key, build)
    try:
        return (entry / SCRIPT_NAME).read_bytes()
    except OSError as err:
        raise StoreError(
            f"cannot read the cached page script: {err}",
            where=entry,
            hint="remove that cache entry (prove-model cache prune) and write the page again",
        ) from err


def _esbuild(nm: Path, out: Path, table: str) -> None:
    node = shutil.which("node")
    if node is None:
        raise DependencyError(
            "Node.js is not installed: it runs esbuild, which bundles the page's script",
            stage="page",
            hint="install Node.js 18+ and run `npm ci` in the zkml checkout",
        )
    # esbuild's JS API finds its native binary whether or not npm ran the package's install script
    opts = {
        "entryPoints": [str(SOURCE)],
        "bundle": True,
        "format": "iife",
        "platform": "browser",
        "target": "es2020",
        "minify": True,
        "legalComments": "eof",
        "logLevel": "error",
        "outfile": str(out),
        "nodePaths": [str(nm)],
        "define": {"ZKML_CEREMONIES": json.dumps(table)},  # a string literal the script parses: code, not page data
    }
    cmd = [
        node,
        "-e",
        "require(process.argv[1]).buildSync(JSON.parse(process.argv[2]))",
        str(nm / "esbuild"),
        json.dumps(opts),
    ]
    try:
        # nodePaths: the source sits in the package, which may be installed away from the checkout's node_modules
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired as err:
        raise DependencyError(
            "esbuild did not finish within 5 minutes", stage="page", where=SOURCE, hint=_NPM_HINT
        ) from err
    if proc.returncode != 0 or not out.is_file():
        raise DependencyError(
            f"esbuild could not bundle the page script: {proc.stderr.strip()[-800:]}",
            stage="page",
            where=SOURCE,
            hint=_NPM_HINT,
        )
