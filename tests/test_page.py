"""The browser verifier (`prove-model page`): a real headless Chromium runs the page's in-browser EVM.

Chromium is Debian's package (installed here when missing and possible), driven by playwright with that
executable: no browser download. The page's verdict must agree with zkml.verify on the same files.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zkml
from conftest import run_cli
from zkml.proof.proof import FIELD_MODULUS, expected_instances
from zkml.srs import known_ceremony_digests

DONE = "() => ['valid','invalid','error'].includes(document.getElementById('verdict').dataset.verdict)"


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        if shutil.which(name):
            return shutil.which(name)
    # the test setup installs Debian's package when it can (make env does the same)
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, env=env, timeout=600)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"],
            capture_output=True,
            env=env,
            timeout=1200,
        )
    return shutil.which("chromium")


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    exe = _chromium()
    if exe is None:
        pytest.skip(
            "chromium is not installed and cannot be installed here (needs root and apt-get: apt-get install chromium)"
        )
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def site(mlp_keys, tmp_path_factory):
    """The tiny MLP's page, written from its bundle (the way a publisher ships it)."""
    d = tmp_path_factory.mktemp("page")
    car = zkml.bundle(mlp_keys).save(d / "tiny-mlp.car")
    index = zkml.page.write_page(car, d / "site")
    assert index == d / "site" / "index.html"
    return index.parent


@pytest.fixture(scope="module")
def server(site):
    """The site over http on a free loopback port (for #proof=, which file:// pages may not fetch)."""
    handler = partial(_QuietHandler, directory=str(site))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


chromium = pytest.mark.requires_chromium


class Page:
    """One browser tab on the site, with every request it made."""

    def __init__(self, browser, url: str):
        self.tab = browser.new_page()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.tab.on("request", lambda r: self.requests.append(r.url))
        self.tab.on("pageerror", lambda e: self.errors.append(str(e)))
        self.tab.goto(url)

    def pick(self, path: Path) -> dict:
        """Load ``path`` through the file picker and wait for the verdict."""
        self.tab.evaluate("document.getElementById('verdict').dataset.verdict = 'pending'")
        self.tab.set_input_files("#proof-file", str(path))
        return self.result()

    def result(self) -> dict:
        self.tab.wait_for_function(DONE, timeout=120_000)
        v = self.tab.locator("#verdict")
        outs = self.tab.locator("#outputs").text_content()
        return {
            "verdict": v.get_attribute("data-verdict"),
            "message": v.locator(".message").text_content(),
            "outputs": json.loads(outs) if outs else None,
            "ms": v.get_attribute("data-ms"),
        }

    def close(self):
        assert not self.errors, self.errors
        self.tab.close()


@pytest.fixture
def tab(browser, site):
    p = Page(browser, site.joinpath("index.html").as_uri())
    yield p
    p.close()


def _tampered(proof: zkml.Proof, path: Path, *, proof_bytes=None, instances=None, meta=None) -> Path:
    raw = proof.to_json()
    if proof_bytes is not None:
        raw["proof"] = list(proof_bytes)
    if instances is not None:
        raw["instances"] = instances
    if meta is not None:
        raw["zkml"] = meta
    path.write_text(json.dumps(raw))
    return path


def _close(page_outputs: list, outputs: list) -> bool:
    import numpy as np

    return len(page_outputs) == len(outputs) and all(
        np.allclose(np.asarray(p["values"], dtype=float), o, rtol=0, atol=1e-9) and list(p["shape"]) == list(o.shape)
        for p, o in zip(page_outputs, outputs)
    )


# ---- the site -----------------------------------------------------------------------------------------------


def test_page_build_reports_progress(mlp_keys, tmp_path):
    events = []
    zkml.page.write_page(mlp_keys, tmp_path / "site", progress=events.append)
    page = [(e.step, e.status) for e in events if e.stage == "page"]
    steps = ["load the statement", "verifier contract (solc)", "bundle the script (esbuild)", "write the site"]
    for name in steps:  # every step starts and ends, in order
        assert page.index((name, "start")) < page.index((name, "done")), page
    assert [s for s, st in page if st == "start"] == steps
    wrote = [e for e in events if e.step == "write the site" and e.status == "done"][-1]
    assert wrote.done == wrote.total == 4 and wrote.unit == "files"
    # a failing build reports the step that failed
    failed = []
    with pytest.raises(zkml.errors.ArtifactError):
        zkml.page.write_page(tmp_path / "missing.car", tmp_path / "x", progress=failed.append)
    assert [(e.step, e.status) for e in failed] == [("load the statement", "start"), ("load the statement", "failed")]


def _srs_name(vk) -> str:
    return f"kzg-{vk.meta['srs']['sha256'][:16]}.srs"


def test_site_is_static_and_relative(site, mlp_keys):
    srs = _srs_name(mlp_keys.vk)
    assert sorted(p.name for p in site.iterdir()) == ["index.html", srs, "model.json", "verify.js"]
    assert (site / srs).read_bytes() == mlp_keys.vk.srs.path.read_bytes()  # the key's own SRS, hashed in the browser
    html = (site / "index.html").read_text()
    assert '<script src="verify.js">' in html and "http://" not in html and "https://" not in html
    data = json.loads((site / "model.json").read_text())
    assert data["units"][0]["srs_file"] == srs and "ceremonies" not in data and data["srs_builder_claim"] is None
    script = (site / "verify.js").read_text()  # zkml's ceremony table is compiled into the script, as code
    assert known_ceremony_digests() and all(d in script for d in known_ceremony_digests())
    assert data["model_id"] == mlp_keys.vk.id and data["dev_srs"] is True
    assert data["decode"]["instances"] == expected_instances(mlp_keys.vk.settings, 1, 1) == 3
    # the decoding numbers come from the key, not from any proof
    assert data["decode"]["outputs"] == [
        {"name": "output", "shape": [1, 3], "scale": mlp_keys.vk.settings["model_output_scales"][0]}
    ]
    assert data["verifier"]["bytecode"] == "0x" + zkml.verifier_contract(mlp_keys.vk).bytecode.hex()
    assert (site / "verify.js").stat().st_size < 1_000_000


def test_cli_page_from_keys_dir(mlp_keys, tmp_path):
    r = run_cli("page", mlp_keys.path, "-o", tmp_path / "site", "--name", "tiny <mlp>", "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["model_id"] == mlp_keys.vk.id
    assert info["files"] == ["index.html", _srs_name(mlp_keys.vk), "model.json", "verify.js"]
    html = (tmp_path / "site" / "index.html").read_text()
    assert "tiny &lt;mlp&gt;" in html and "tiny <mlp>" not in html  # the name cannot inject markup


def test_page_without_node_modules_says_what_to_do(monkeypatch):
    from zkml.page import _script

    monkeypatch.delenv("ZKML_NODE_MODULES", raising=False)
    monkeypatch.setattr(_script, "find_upwards", lambda relative: None)
    with pytest.raises(zkml.errors.DependencyError, match="esbuild") as info:
        _script.page_script()
    assert "npm ci" in info.value.hint


def test_cli_page_refuses_a_missing_source(tmp_path):
    r = run_cli("page", tmp_path / "nothing.car", "-o", tmp_path / "site")
    assert r.returncode == 2 and "does not exist" in r.stderr


# ---- verdicts in the browser --------------------------------------------------------------------------------


@chromium
def test_valid_proof_via_file_picker(tab, mlp_keys, mlp_proof, tmp_path, site):
    path = mlp_proof.save(tmp_path / "proof.json")
    want = zkml.verify(path, mlp_keys.vk)
    assert want
    got = tab.pick(path)
    assert got["verdict"] == "valid", got["message"]
    assert _close(got["outputs"], want.outputs)
    assert float(got["ms"]) > 0
    t = tab.tab
    assert t.locator("#model-id").text_content() == mlp_keys.vk.id
    assert t.locator("#visibility").text_content() == "input private, output public, weights fixed"
    assert t.locator("#dev-srs-warning").is_visible()  # made with a dev SRS: the page says so
    # the page read nothing but its own folder
    folder = site.as_uri() + "/"
    assert tab.requests and all(u.startswith(folder) for u in tab.requests), tab.requests


@chromium
def test_valid_proof_by_drag_and_drop(tab, mlp_proof):
    text = json.dumps(mlp_proof.to_json())
    dt = tab.tab.evaluate_handle(
        """(text) => {
        const dt = new DataTransfer()
        dt.items.add(new File([text], 'dropped.json', { type: 'application/json' }))
        return dt
    }""",
        text,
    )
    tab.tab.evaluate("document.getElementById('verdict').dataset.verdict = 'pending'")
    tab.tab.dispatch_event("#drop", "drop", {"dataTransfer": dt})
    got = tab.result()
    assert got["verdict"] == "valid" and "dropped.json" in got["message"], got


@chromium
def test_reusable_verifier_page(browser, mlp_keys, mlp_proof, tmp_path):
    """ezkl's reusable verifier with the model's VKA (what models over EIP-170 use on chain) runs in the page too."""
    zkml.page.write_page(mlp_keys, tmp_path / "site", reusable=True)
    data = json.loads((tmp_path / "site" / "model.json").read_text())
    assert data["verifier"]["reusable"] and data["verifier"]["vka"]
    p = Page(browser, (tmp_path / "site" / "index.html").as_uri())
    path = mlp_proof.save(tmp_path / "proof.json")
    got = p.pick(path)
    assert got["verdict"] == "valid", got["message"]
    assert _close(got["outputs"], zkml.verify(path, mlp_keys.vk).outputs)
    data = bytearray(mlp_proof.proof)
    data[100] ^= 0x10
    assert p.pick(_tampered(mlp_proof, tmp_path / "bad.json", proof_bytes=data))["verdict"] == "invalid"
    p.close()


@chromium
def test_public_input_and_hashed_output_are_decoded_with_the_key(browser, mlp_model, mlp_cal, tmp_path):
    keys = zkml.compile(mlp_model, mlp_cal, visibility="input=public,output=hashed").setup()
    path = keys.prove(mlp_cal[1]).save(tmp_path / "proof.json")
    want = zkml.verify(path, keys.vk)
    assert want and want.hashes["output"]
    zkml.page.write_page(keys, tmp_path / "site")
    p = Page(browser, (tmp_path / "site" / "index.html").as_uri())
    got = p.pick(path)
    assert got["verdict"] == "valid" and got["outputs"] == []
    public = p.tab.locator("#public").text_content()
    assert "no public outputs: the output is hashed" in p.tab.locator("#outputs-human").text_content()
    p.close()
    assert f"output hash: {want.hashes['output'][0]}" in public
    shown = json.loads(public.split("\n")[0].removeprefix("public inputs: "))
    assert _close(shown, want.public_inputs)


@chromium
def test_flipped_proof_byte_is_invalid(tab, mlp_proof, tmp_path):
    data = bytearray(mlp_proof.proof)
    data[len(data) // 2] ^= 0x01
    got = tab.pick(_tampered(mlp_proof, tmp_path / "flipped.json", proof_bytes=data))
    assert got["verdict"] == "invalid" and "rejected" in got["message"]
    assert got["outputs"] is None


@chromium
def test_changed_public_output_is_invalid(tab, mlp_proof, tmp_path):
    inst = [list(c) for c in mlp_proof.instances]
    v = int.from_bytes(bytes.fromhex(inst[-1][-1]), "little")
    inst[-1][-1] = ((v + 1) % FIELD_MODULUS).to_bytes(32, "little").hex()
    got = tab.pick(_tampered(mlp_proof, tmp_path / "output.json", instances=inst))
    assert got["verdict"] == "invalid", got["message"]


@chromium
def test_aliased_and_miscounted_instances_are_invalid(tab, mlp_proof, tmp_path):
    inst = [list(c) for c in mlp_proof.instances]
    v = int.from_bytes(bytes.fromhex(inst[0][0]), "little")
    aliased = [[(v + FIELD_MODULUS).to_bytes(32, "little").hex(), *inst[0][1:]], *inst[1:]]
    got = tab.pick(_tampered(mlp_proof, tmp_path / "aliased.json", instances=aliased))
    assert got["verdict"] == "invalid" and "canonical" in got["message"]
    got = tab.pick(_tampered(mlp_proof, tmp_path / "short.json", instances=[inst[0][:-1], *inst[1:]]))
    assert got["verdict"] == "invalid" and "public values" in got["message"]


@chromium
def test_another_models_proof_is_invalid(tab, other_keys, mlp_cal, tmp_path):
    other = other_keys.prove(mlp_cal[0])
    got = tab.pick(other.save(tmp_path / "other.json"))
    assert got["verdict"] == "invalid" and "not for this key" in got["message"]
    # without the file's own claims the verifier contract itself refuses it
    got = tab.pick(_tampered(other, tmp_path / "other-bare.json", meta={}))
    assert got["verdict"] == "invalid" and "rejected" in got["message"]


@chromium
@pytest.mark.parametrize(
    "text, words",
    [
        ("this is not JSON", "not JSON"),
        ('{"hello": "world"}', 'no "proof"'),
        ('{"proof": [1, 2, 300], "instances": []}', "list of bytes"),
        ('{"proof": [1, 2], "instances": [["xyz"]]}', "instances"),
    ],
)
def test_not_a_proof_is_an_error(tab, tmp_path, text, words):
    path = tmp_path / "not-a-proof.json"
    path.write_text(text)
    got = tab.pick(path)
    assert got["verdict"] == "error" and words in got["message"], got


@chromium
def test_proof_from_the_address_over_http(browser, server, site, mlp_keys, mlp_proof):
    mlp_proof.save(site / "proof.json")
    try:
        p = Page(browser, server + "index.html#proof=proof.json")
        got = p.result()
        assert got["verdict"] == "valid", got["message"]
        assert _close(got["outputs"], zkml.verify(site / "proof.json", mlp_keys.vk).outputs)
        srs = _srs_name(mlp_keys.vk)
        assert sorted({u.removeprefix(server) for u in p.requests}) == ["index.html", srs, "proof.json", "verify.js"]
        p.close()
    finally:
        (site / "proof.json").unlink()


@chromium
def test_proof_from_the_address_stays_in_the_folder(browser, server):
    p = Page(browser, server + "index.html#proof=https://example.com/proof.json")
    got = p.result()
    assert got["verdict"] == "error" and "relative URL" in got["message"]
    assert all(u.startswith(server) for u in p.requests), p.requests
    p.close()


@chromium
def test_proof_from_the_address_on_file_url(browser, site, mlp_proof):
    """From file:// Chromium refuses to let the page read other files: the page says what to do instead."""
    mlp_proof.save(site / "proof.json")
    try:
        p = Page(browser, site.joinpath("index.html").as_uri() + "#proof=proof.json")
        got = p.result()
        if got["verdict"] != "valid":  # browsers that allow it verify; Chromium by default does not
            assert got["verdict"] == "error" and "file picker" in got["message"], got
        p.close()
    finally:
        (site / "proof.json").unlink()


# ---- the SRS status: computed in the browser from the SRS file's digest ------------------------------------------


def _srs_kind(p: "Page") -> str:
    p.tab.wait_for_function("() => document.getElementById('srs').dataset.kind !== 'checking'", timeout=60_000)
    return p.tab.locator("#srs").get_attribute("data-kind")


class _Serve:
    """A folder over http on a free loopback port (the page fetches its SRS file; file:// pages may not)."""

    def __init__(self, folder: Path):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(folder)))
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@chromium
def test_srs_status_is_computed_in_the_browser_from_the_digest(browser, mlp_keys, mlp_proof, tmp_path):
    """The page's build-time SRS status is never shown: the page hashes the SRS file, checks the verifier was made
    with it, and looks the digest up in the ceremony table compiled into its script and the reader's pin."""
    d = tmp_path / "site"
    zkml.page.write_page(mlp_keys, d)
    digest = mlp_keys.vk.meta["srs"]["sha256"]
    srs = d / _srs_name(mlp_keys.vk)
    data = json.loads((d / "model.json").read_text())
    # a forger (or a builder with a wrong idea) says the dev SRS is a ceremony's, in every field of the page's data
    data["srs_status"] = {"kind": "ceremony", "name": "perpetual-powers-of-tau-raw-11", "message": "ceremony SRS"}
    data["ceremonies"] = {digest: "perpetual-powers-of-tau-raw-11"}  # the table the page once read from its data
    data["srs_pin"] = digest
    data["dev_srs"] = False  # and hides the dev SRS warning
    (d / "index.html").write_text(zkml.page.render_index(data))
    (d / "proof.json").write_text(json.dumps(mlp_proof.to_json()))
    web = _Serve(d)
    try:
        p = Page(browser, web.url + "index.html#proof=proof.json")
        got = p.result()
        assert _srs_kind(p) == "unknown" and p.tab.locator("#srs").get_attribute("data-sha256") == digest
        assert got["verdict"] == "valid" and "SRS: unknown SRS" in got["message"], got["message"]
        assert p.tab.locator("#verdict").get_attribute("data-srs") == "unknown"
        assert p.tab.locator("#srs-warning").is_visible() and not p.tab.locator("#dev-srs-warning").is_visible()
        p.close()
        # the reader pins the digest: pinned, computed from the bytes
        p = Page(browser, web.url + f"index.html#proof=proof.json&srs-sha256={digest}")
        got = p.result()
        assert _srs_kind(p) == "pinned" and "pinned by you in the address" in p.tab.locator("#srs").text_content()
        assert p.tab.locator("#srs").get_attribute("data-verifiers") == "matches"
        assert not p.tab.locator("#srs-warning").is_visible()
        assert p.tab.locator("#verdict").get_attribute("data-srs") == "pinned" and "SRS: pinned" in got["message"]
        p.close()
        # the digest in the ceremony table compiled into verify.js: ceremony (the script is what decides)
        honest_script = (d / "verify.js").read_bytes()
        (d / "verify.js").write_bytes(zkml.page.page_script(ceremonies={digest: "test-ceremony"}))
        p = Page(browser, web.url + "index.html")
        assert _srs_kind(p) == "ceremony" and "test-ceremony" in p.tab.locator("#srs").text_content()
        p.close()
        # another SRS file beside the page: the digest changes, so neither the table nor the pin matches it
        honest = srs.read_bytes()
        changed = bytearray(honest)
        changed[100] ^= 0x01  # a G1 point: the verifier's [1]_2 and -[tau]_2 are unchanged
        srs.write_bytes(bytes(changed))
        p = Page(browser, web.url + f"index.html#srs-sha256={digest}")
        assert _srs_kind(p) == "unknown" and p.tab.locator("#srs").get_attribute("data-sha256") != digest
        p.close()
        # an SRS whose digest is pinned (and listed) but that is not the verifier's: its [tau]_2 differs
        changed = bytearray(honest)
        changed[-5] ^= 0x01
        srs.write_bytes(bytes(changed))
        forged = hashlib.sha256(bytes(changed)).hexdigest()
        (d / "verify.js").write_bytes(zkml.page.page_script(ceremonies={forged: "a forger's ceremony"}))
        p = Page(browser, web.url + f"index.html#srs-sha256={forged}")
        assert _srs_kind(p) == "unknown"
        assert "not the one the verifier contract checks with" in p.tab.locator("#srs").text_content()
        p.close()
    finally:
        web.close()
    # from file://, the page says it could not read the file; the reader picks it, and the status is computed
    srs.write_bytes(honest)
    (d / "verify.js").write_bytes(honest_script)
    p = Page(browser, (d / "index.html").as_uri() + f"#srs-sha256={digest}")
    first = _srs_kind(p)
    assert first == "pinned" or "could not read" in p.tab.locator("#srs").text_content()
    p.tab.evaluate("document.getElementById('srs').dataset.kind = 'checking'")
    p.tab.set_input_files("#srs-file", str(srs))
    assert _srs_kind(p) == "pinned"
    p.close()


# forged SRS / verifier pairs: the page must read them unknown whatever digest is pinned or listed

_P = 21888242871839275222246405745257275088696311157297823662689037894645226208583
_MONT = pow(2, 256, _P)


def _srs_g2(srs: bytes, offset: int):
    """A G2 point of an SRS file in ezkl's raw format (little-endian Montgomery words), as py_ecc's point."""
    from py_ecc.bn128 import FQ2

    inv = pow(_MONT, _P - 2, _P)
    x0, x1, y0, y1 = (
        int.from_bytes(srs[offset + 32 * i : offset + 32 * i + 32], "little") * inv % _P for i in range(4)
    )
    return (FQ2([x0, x1]), FQ2([y0, y1]))


def _srs_point_bytes(pt) -> bytes:
    return b"".join((int(c) * _MONT % _P).to_bytes(32, "little") for v in pt for c in v.coeffs)


def _verifier_words(pt, negate=False) -> list[bytes]:
    """A G2 point as ezkl's verifier holds it: EIP-197 words, imaginary part first."""
    (x0, x1), (y0, y1) = ([int(c) for c in v.coeffs] for v in pt)
    if negate:
        y0, y1 = (_P - y0) % _P, (_P - y1) % _P
    return [v.to_bytes(32, "big") for v in (x1, x0, y1, y0)]


def _creation(runtime: bytes) -> bytes:
    """Creation code that deploys ``runtime`` as it is: CODECOPY it to memory, RETURN it."""
    n = len(runtime).to_bytes(2, "big")
    init = b"\x61" + n + b"\x80\x61" + (11).to_bytes(2, "big") + b"\x5f\x39\x5f\xf3"
    assert len(init) == 11
    return init + runtime


@chromium
def test_forged_srs_verifier_pairs_read_unknown(browser, mlp_keys, tmp_path):
    """A key maker's SRS with the honest [tau]_2 but [1]_2 = 2[tau]_2 (trapdoor 1/2 relative to its g2, known to
    them): its verifier holds the honest -[tau]_2, so a page that checked only -[tau]_2 called it pinned (or a
    ceremony's) beside the honest SRS file. And a contract with another SRS's words as dead PUSH32s."""
    from py_ecc.bn128 import b2, double, is_on_curve

    d = tmp_path / "site"
    zkml.page.write_page(mlp_keys, d)
    data = json.loads((d / "model.json").read_text())
    srs = d / _srs_name(mlp_keys.vk)
    honest = srs.read_bytes()
    digest = hashlib.sha256(honest).hexdigest()
    g2, tau2 = _srs_g2(honest, len(honest) - 256), _srs_g2(honest, len(honest) - 128)
    runtime = zkml.verifier_contract(mlp_keys.vk).deployed_bytecode
    assert runtime.count(b"\x7f" + _verifier_words(g2)[0]) == 1  # the block's g2_x_1, once
    # the forger's verifier: what ezkl makes from the forged SRS is the honest one with g2 := 2[tau]_2 (the rest of
    # the key is the forger's too, but the check reads these constants)
    forged_g2 = double(tau2)
    assert is_on_curve(forged_g2, b2)
    patched = runtime
    for old, new in zip(_verifier_words(g2), _verifier_words(forged_g2)):
        assert patched.count(b"\x7f" + old) == 1
        patched = patched.replace(b"\x7f" + old, b"\x7f" + new)
    forged_srs = honest[:-256] + _srs_point_bytes(forged_g2) + honest[-128:]
    # the dead-PUSH32 contract: the honest verifier (made with this SRS) with another SRS's [1]_2 and -[tau]_2
    # appended as PUSH32 constants no path reaches; the other SRS beside it, its digest pinned
    other_tau = double(tau2)
    other_srs = honest[:-128] + _srs_point_bytes(other_tau)
    dead = runtime + b"".join(b"\x7f" + w for w in [*_verifier_words(g2), *_verifier_words(other_tau, negate=True)])
    cases = [
        ("forged [1]_2, honest SRS file", patched, honest, "is not BN254's G2 generator"),
        ("forged [1]_2, the forged SRS file", patched, forged_srs, "is not BN254's G2 generator"),
        ("dead PUSH32s of another SRS, that SRS file", dead, other_srs, "[tau]_2 is not the SRS file's"),
    ]
    web = _Serve(d)
    try:
        for label, code, srs_bytes, why in cases:
            sha = hashlib.sha256(srs_bytes).hexdigest()
            srs.write_bytes(srs_bytes)
            unit = {
                **data["units"][0],
                "verifier": {**data["units"][0]["verifier"], "bytecode": "0x" + _creation(code).hex()},
            }
            (d / "index.html").write_text(zkml.page.render_index({**data, "units": [unit], "srs_builder_claim": sha}))
            # listed as a ceremony in the script and pinned by the reader: still unknown
            (d / "verify.js").write_bytes(zkml.page.page_script(ceremonies={sha: "a ceremony"}))
            p = Page(browser, web.url + f"index.html#srs-sha256={sha}")
            assert _srs_kind(p) == "unknown", label
            text = p.tab.locator("#srs").text_content()
            assert "not the one the verifier contract checks with" in text and why in text, (label, text)
            assert p.tab.locator("#srs").get_attribute("data-verifiers") == "differs"
            p.close()
        # control: the honest runtime deployed the same way, with the honest SRS, reads pinned (the wrapper is not
        # what makes the cases above unknown)
        srs.write_bytes(honest)
        unit = {
            **data["units"][0],
            "verifier": {**data["units"][0]["verifier"], "bytecode": "0x" + _creation(runtime).hex()},
        }
        (d / "index.html").write_text(zkml.page.render_index({**data, "units": [unit]}))
        p = Page(browser, web.url + f"index.html#srs-sha256={digest}")
        assert _srs_kind(p) == "pinned", p.tab.locator("#srs").text_content()
        p.close()
    finally:
        web.close()


@chromium
def test_the_builders_pin_is_a_claim_and_the_reusable_page_reads_its_vka(browser, mlp_keys, tmp_path):
    """prove-model page --srs-sha256 travels in the folder's data: the page shows it as the builder's claim and
    keeps the status unknown; the reader's own pin makes it pinned. The reusable verifier's key is its VKA's."""
    digest = mlp_keys.vk.meta["srs"]["sha256"]
    d = tmp_path / "site"
    zkml.page.write_page(mlp_keys, d, reusable=True, srs_sha256=digest)
    data = json.loads((d / "model.json").read_text())
    assert data["srs_builder_claim"] == digest and data["verifier"]["reusable"]
    web = _Serve(d)
    try:
        p = Page(browser, web.url + "index.html")
        assert _srs_kind(p) == "unknown"
        el = p.tab.locator("#srs")
        assert el.get_attribute("data-claimed") == "matches" and "the page builder claims" in el.text_content()
        assert "not a check" in el.text_content()
        assert p.tab.locator("#srs-warning").is_visible() or p.tab.locator("#dev-srs-warning").is_visible()
        p.close()
        p = Page(browser, web.url + f"index.html#srs-sha256={digest}")
        assert _srs_kind(p) == "pinned", p.tab.locator("#srs").text_content()
        assert p.tab.locator("#srs").get_attribute("data-verifiers") == "matches"
        p.close()
        # a VKA whose -[tau]_2 is another SRS's: the reusable verifier checks with that one, not the file's
        vka = list(data["units"][0]["verifier"]["vka"])
        vka[20] = "0x" + (int(vka[20], 16) ^ 1).to_bytes(32, "big").hex()
        unit = {**data["units"][0], "verifier": {**data["units"][0]["verifier"], "vka": vka}}
        (d / "index.html").write_text(zkml.page.render_index({**data, "units": [unit]}))
        p = Page(browser, web.url + f"index.html#srs-sha256={digest}")
        assert _srs_kind(p) == "unknown" and "[tau]_2 is not the SRS file's" in p.tab.locator("#srs").text_content()
        p.close()
    finally:
        web.close()


# ---- the page agrees with zkml.verify ------------------------------------------------------------------------

_tampering = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(0, 7)),
    st.tuples(st.just("instance"), st.integers(0, 10**6), st.integers(1, 2**64)),
    st.tuples(st.just("alias"), st.integers(0, 10**6), st.just(0)),
    st.tuples(st.just("truncate"), st.integers(1, 64), st.just(0)),
    st.tuples(st.just("append"), st.integers(1, 64), st.just(0)),
    st.tuples(st.just("none"), st.just(0), st.just(0)),
)


@chromium
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(change=_tampering)
def test_page_agrees_with_zkml_verify(browser, site, mlp_keys, mlp_proof, tmp_path, change):
    kind, where, how = change
    data, inst = bytearray(mlp_proof.proof), [list(c) for c in mlp_proof.instances]
    flat = [(i, j) for i, c in enumerate(inst) for j in range(len(c))]
    if kind == "flip":
        data[where % len(data)] ^= 1 << how
    elif kind in ("instance", "alias"):
        i, j = flat[where % len(flat)]
        v = int.from_bytes(bytes.fromhex(inst[i][j]), "little")
        v = v + FIELD_MODULUS if kind == "alias" else (v + how) % FIELD_MODULUS
        inst[i][j] = v.to_bytes(32, "little").hex()
    elif kind == "truncate":
        data = data[:-where]
    elif kind == "append":
        data += bytes(where)
    path = _tampered(mlp_proof, tmp_path / f"t-{kind}-{where}-{how}.json", proof_bytes=data, instances=inst)
    want = zkml.verify(path, mlp_keys.vk)
    p = Page(browser, site.joinpath("index.html").as_uri())
    try:
        got = p.pick(path)
    finally:
        p.close()
    assert got["verdict"] == ("valid" if want else "invalid"), (kind, got["message"], want.reason)
    if want:
        assert _close(got["outputs"], want.outputs)


# ---- every kind of model: single, split, committed, split + committed ------------------------------------------

KIND_PARAMS = ["single", "split", "committed", pytest.param("split+committed", marks=pytest.mark.slow), "tiled"]


def _bare(proof: zkml.Proof) -> dict:
    """The proof file without any of its own claims (zkml sections): only the cryptography is left to refuse it."""
    raw = proof.to_json()
    raw.pop("zkml", None)
    for seg in raw.get("segments", []):
        seg.pop("zkml", None)
    return raw


@chromium
@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_every_kind_in_the_browser_valid_and_a_forgers_proofs_invalid(kind, kind_case, browser, tmp_path):
    case = kind_case(kind)
    index = zkml.page.write_page(case.keys, tmp_path / "site", name=f"the {kind} model")
    data = json.loads((index.parent / "model.json").read_text())
    assert data["model_id"] == case.statement.id and data["key_id"] == case.keys.vk.key_id
    assert data["weights_commitment"] == case.fingerprint and data["committed"] is bool(case.fingerprint)
    assert data["segments"] == len(data["units"]) == len(getattr(case.keys, "segments", [1]))
    web = _Serve(index.parent)  # over http, so the page reads its SRS file(s)
    try:
        q = Page(browser, web.url + "index.html")
        assert _srs_kind(q) == "unknown"  # a dev SRS, pinned by no one
        # every unit's (honest) verifier reads as made with its SRS file: the key constants were found and match
        assert q.tab.locator("#srs").get_attribute("data-verifiers") == " ".join(["matches"] * data["segments"])
        q.close()
    finally:
        web.close()
    p = Page(browser, index.as_uri())
    try:
        t = p.tab
        assert t.title() == f"the {kind} model · verify a proof (zkml)"
        assert t.locator("#model-id").text_content() == case.statement.id
        assert t.locator("#key-id").text_content() == case.keys.vk.key_id
        assert _srs_kind(p) == "unknown" and data["srs_status"]["kind"] == "unknown"
        weights = t.locator("#weights").text_content()
        assert (case.fingerprint in weights) if case.fingerprint else weights == "fixed in the verifying key"
        want = zkml.verify(case.proof, case.statement)
        assert want
        got = p.pick(case.proof.save(tmp_path / "proof.json"))
        assert got["verdict"] == "valid", got["message"]
        assert _close(got["outputs"], want.outputs)
        assert t.locator("#verdict").get_attribute("data-weights") == ("checked" if case.fingerprint else "fixed")
        if case.fingerprint:
            assert "Weights checked" in got["message"] and case.fingerprint in t.locator("#public").text_content()
        ms = float(got["ms"])
        assert ms > 0 and " 0 ms" not in got["message"] and got["ms"] != "0.000"
        for name, forged in case.forged.items():
            for label, raw in (("with its claims", forged.to_json()), ("claims stripped", _bare(forged))):
                path = tmp_path / f"forged-{len(label)}.json"
                path.write_text(json.dumps(raw))
                assert not zkml.verify(path, case.statement), (name, label)
                got = p.pick(path)
                assert got["verdict"] == "invalid", (name, label, got["message"])
                assert got["outputs"] is None
                if label == "claims stripped" and name == "other weights":
                    assert "weights commitment" in got["message"], got["message"]
                if label == "claims stripped" and name == "another inference's segment":
                    assert "link commitments differ" in got["message"], got["message"]
    finally:
        p.close()


@chromium
def test_an_unpinned_committed_page_says_the_weights_were_not_checked(kind_case, browser, tmp_path):
    case = kind_case("committed")
    vk_dir = case.keys.vk.save(tmp_path / "vk")  # the bare key: no fingerprint pinned
    index = zkml.page.write_page(vk_dir, tmp_path / "site")
    data = json.loads((index.parent / "model.json").read_text())
    assert data["weights_commitment"] is None and data["committed"] is True
    p = Page(browser, index.as_uri())
    try:
        assert "no fingerprint pinned" in p.tab.locator("#weights").text_content()
        for proof in (case.proof, case.forged["other weights"]):
            got = p.pick(proof.save(tmp_path / "p.json"))
            assert got["verdict"] == "valid" and "Weights NOT checked" in got["message"], got["message"]
            assert p.tab.locator("#verdict").get_attribute("data-weights") == "unchecked"
            assert proof.weights_commitment in p.tab.locator("#public").text_content()
    finally:
        p.close()
    # pinned at page time, from the same directory: other weights are refused
    index = zkml.page.write_page(vk_dir, tmp_path / "pinned", weights_commitment=case.fingerprint)
    p = Page(browser, index.as_uri())
    try:
        assert p.pick(case.proof.save(tmp_path / "p.json"))["verdict"] == "valid"
        got = p.pick(case.forged["other weights"].save(tmp_path / "p2.json"))
        assert got["verdict"] == "invalid" and "weights commitment" in got["message"], got["message"]
    finally:
        p.close()


@chromium
def test_split_page_from_a_bundle_and_the_cli(kind_case, browser, tmp_path):
    case = kind_case("split")
    car = zkml.bundle(case.keys).save(tmp_path / "model.car")
    r = run_cli("page", car, "-o", tmp_path / "site", "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["model_id"] == case.keys.id and info["segments"] == len(case.keys.segments)
    # a generic file name ("model.car") is not a model's name: the page names the model by its id
    assert info["name"] == f"model {case.keys.id[:12]}"
    p = Page(browser, (tmp_path / "site" / "index.html").as_uri())
    try:
        assert p.tab.title() == f"model {case.keys.id[:12]} · verify a proof (zkml)"
        got = p.pick(case.proof.save(tmp_path / "proof.json"))
        assert got["verdict"] == "valid" and "every link matches" in got["message"], got["message"]
        got = p.pick(case.forged["reordered segments"].save(tmp_path / "reordered.json"))
        assert got["verdict"] == "invalid", got["message"]
        single = kind_case("single").proof.save(tmp_path / "single.json")
        got = p.pick(single)
        assert got["verdict"] == "invalid" and "segments" in got["message"], got["message"]
    finally:
        p.close()


def test_a_page_pin_that_disagrees_with_the_source_is_refused(kind_case, tmp_path):
    case = kind_case("committed")
    with pytest.raises(zkml.errors.ArtifactError, match="another weights fingerprint"):
        zkml.page.write_page(
            case.keys, tmp_path / "site", weights_commitment=case.forged["other weights"].weights_commitment
        )
    with pytest.raises(zkml.errors.VerifyError, match="committed"):
        zkml.page.write_page(kind_case("single").keys, tmp_path / "site2", weights_commitment=case.fingerprint)
