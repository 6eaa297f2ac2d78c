"""Ceremony SRS out of the box (zkml.srs.fetch, ``prove-model srs fetch``, the shipped table of ezkl's digests),
and the verifier's own view of the SRS in every verdict: ceremony / pinned / unknown, whatever a key file says."""

from __future__ import annotations

import functools
import http.server
import json
import re
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

import zkml
import zkml.srs as srs
from conftest import run_cli
from zkml import errors
from zkml.cli.main import cli
from zkml.keys.keys import CORE_FILES, VerifyingKey, bundle_meta, identity
from zkml.keys.split import SplitVerifyingKey
from zkml.proof.proof import Proof
from zkml.support.hashing import sha256_file
from zkml.support.ipld import core_cid
from zkml.verifier.verification import verify

# ezkl's PUBLIC_SRS_SHA256_HASHES (src/srs_sha.rs, zkonduit/ezkl 5da444ee; the same digests are in ezkl 23.0.5's binary)
EZKL_TABLE = {
    1: "cafb2aa72c200ddc4e28aacabb8066e829207e2484b8d17059a566232f8a297b",
    2: "8194ec51da5d332d2e17283ade34920644774452c2fadf33742e8c739e275d8e",
    3: "0729e815bce2ac4dfad7819982c6479c3b22c32b71f64dca05e8fdd90e8535ef",
    4: "2c0785da20217fcafd3b12cc363a95eb2529037cc8a9bddf8fb15025cbc8cdc9",
    5: "5b950e3b76e7a9923d69f6d6585ce6b5f9458e5ec57a71c9de5005d32d544692",
    6: "85030b2924111fc60acaf4fb8a7bad89531fbe0271aeab0c21e545f71eee273d",
    7: "e65f95150519fe01c2bedf8f832f5249822ef84c9c017307419e10374ff9eeb1",
    8: "446092fd1d6030e5bb2f2a8368267d5ed0fbdb6a766f6c5e4a4841827ad3106f",
    9: "493d088951882ad81af11e08c791a38a37c0ffff14578cf2c7fb9b7bca654d8b",
    10: "9705d450e5dfd06adb673705f7bc34418ec86339203198beceb2ae7f1ffefedb",
    11: "257fa566ed9bc0767d3e63e92b5e966829fa3347d320a32055dc31ee7d33f8a4",
    12: "28b151069f41abc121baa6d2eaa8f9e4c4d8326ddbefee2bd9c0776b80ac6fad",
    13: "d5d94bb25bdc024f649213593027d861042ee807cafd94b49b54f1663f8f267d",
    14: "c09129f064c08ecb07ea3689a2247dcc177de6837e7d2f5f946e30453abbccef",
    15: "90807800a1c3b248a452e1732c45ee5099f38b737356f5542c0584ec9c3ebb45",
    16: "2a1a494630e71bc026dd5c0eab4c1b9a5dbc656228c1f0d48f5dbd3909b161d3",
    17: "41509f380362a8d14401c5ae92073154922fe23e45459ce6f696f58607655db7",
    18: "d0148475717a2ba269784a178cb0ab617bc77f16c58d4a3cbdfe785b591c7034",
    19: "d1a1655b4366a766d1578beb257849a92bf91cb1358c1a2c37ab180c5d3a204d",
    20: "54ef75911da76d7a6b7ea341998aaf66cb06c679c53e0a88a4fe070dd3add963",
    21: "486e044cf98704e07f41137d2b89698dc03d1fbf34d13b60902fea19a6013b4b",
    22: "1ee9b4396db3e4e2516ac5016626ab6ba967f091d5d23afbdb7df122a0bb9d0c",
    23: "748e48b9b6d06f9c82d26bf551d0af43ee2e801e4be56d7ccb20312e267fd1d6",
    24: "f94fa4afa2f5147680f907d4dd96a8826206c26bd3328cd379feaed614b234de",
    25: "dec49a69893fbcd66cd06296b2d936a6aceb431c130b2e52675fe4274b504f57",
    26: "b198a51d48b88181508d8e4ea9dea39db285e4585663b29b7e4ded0c22a94875",
}

# ezkl's own tests/assets/kzg1.srs (516 bytes): the k = 1 Perpetual Powers of Tau file as ezkl stores it
KZG1 = bytes.fromhex(
    "010000009d0d8fc58d435dd33d0bc7f528eb780a2c4679786fa36e662fdf079ac1770a0e3a1b1e8b1b87baa67b168eeb51d6"
    "f114588cf2f0de46ddcc5ebe0f3483ef141c298523be55761cc85597a23bf28c84d30eda3425c0bced02cb86a32b6c8e4c0a"
    "9889d4a17da86e89d3bce7423e77b9e1b6285ac539d4dc8ad97d408a7f057d1602d573846627646f964f9774125a981e0163"
    "adf6ffaafcbcd9ca06a4ecb7890c2f3875e5eedd46d4611f79b9fb0ab076024808d6174940be7bb2b8b4e0a4fe2e524a0cfb"
    "28d075b62442ba9a6066c8492e6d600398414e8daf5fac307da5fd2b5f45045adc6b9e03b4d7eb29b724b5b27c05958bb0b9"
    "5219bfbddb5e33f92d0a2620bc02d1b5838e72017b493519ebdcdf1a81974726b8fb3b5096af4138571940614ca87d73b4af"
    "c4d802585add4360862fa052fc50e9096b7bea3a83f0fe14f6e96b889dfa9d61789b9ef597d27ffefe7d1b23621a9eff0642"
    "9eaeeb7efd28ee5618c7565b0964bb3c7d3222f957dc76103533be35f9558264fd93e6a0a40d141a078d27be11a9fb582904"
    "80c66ea6fbd25e5a7202217d2c465ad9ee82b42f7a8aa3639c341ee8b48418833e58e618d12669143b071b92ada94da2325d"
    "322b636f091536aef4f0020c3c6f14a3f0519e994e3c62c2c6a36d08d1d2c91295201f4d673d5bbabcd819ef27bc777d5ef0"
    "11997be0023032a61f80f6e2e0a6fd28"
)


@pytest.fixture(autouse=True)
def _no_pin(monkeypatch):
    monkeypatch.delenv("ZKML_SRS_SHA256", raising=False)
    monkeypatch.delenv("ZKML_SRS_URL", raising=False)


@pytest.fixture(scope="module")
def served(tmp_path_factory, mlp_circuit):
    """A local HTTP server: ezkl's k = 1 ceremony file, a tampered copy, and a dev SRS made with ezkl.gen_srs
    (not by zkml, so not registered as dev) big enough for the test MLP."""
    import ezkl

    k = mlp_circuit.logrows
    root = tmp_path_factory.mktemp("srs-server")
    (root / "perpetual-powers-of-tau-raw-1").write_bytes(KZG1)
    bad = bytearray(KZG1)
    bad[-1] ^= 1
    (root / "tampered-1").write_bytes(bytes(bad))
    dev = root / f"perpetual-powers-of-tau-raw-{k}"
    ezkl.gen_srs(str(dev), k)
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {"url": f"http://127.0.0.1:{server.server_address[1]}", "k": k, "dev": dev, "dev_sha": sha256_file(dev)}
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _table_file(tmp_path: Path, k: int, digest: str) -> Path:
    p = tmp_path / "ceremonies.json"
    p.write_text(json.dumps({"ceremonies": [{"name": f"test-ceremony-{k}", "logrows": k, "sha256": digest}]}))
    return p


# the shipped table


def test_the_shipped_table_is_ezkls():
    doc = json.loads(srs.CEREMONIES.read_text())
    rows = doc["ceremonies"]
    assert len(rows) == 26 and sorted(r["logrows"] for r in rows) == list(range(1, 27))
    assert all(re.fullmatch(r"[0-9a-f]{64}", r["sha256"]) for r in rows)
    assert {r["logrows"]: r["sha256"] for r in rows} == EZKL_TABLE
    assert srs.ceremony_files() == {k: (f"perpetual-powers-of-tau-raw-{k}", d) for k, d in EZKL_TABLE.items()}
    assert srs.known_ceremony_digests() == {d: f"perpetual-powers-of-tau-raw-{k}" for k, d in EZKL_TABLE.items()}
    src = doc["source"]
    assert (src["repo"], src["file"], src["table"]) == ("zkonduit/ezkl", "src/srs_sha.rs", "PUBLIC_SRS_SHA256_HASHES")
    assert re.fullmatch(r"[0-9a-f]{40}", src["commit"]) and "{k}" in src["url_pattern"]
    assert srs.srs_url(15) == src["url_pattern"].format(k=15)  # the default download location is ezkl's


def test_ezkls_own_k1_file_hashes_to_the_table(tmp_path):
    """Like with like: sha256 of the stored file (what zkml hashes) is ezkl's published digest."""
    p = tmp_path / "kzg1.srs"
    p.write_bytes(KZG1)
    assert sha256_file(p) == EZKL_TABLE[1]
    assert zkml.check_srs(p) == 1
    assert srs.srs_status(EZKL_TABLE[1]) == srs.SRSStatus(
        "ceremony", "perpetual-powers-of-tau-raw-1", srs.srs_status(EZKL_TABLE[1]).message
    )


# fetch


def test_fetch_lands_a_matching_file(served, tmp_path):
    k = served["k"]
    seen = []
    info = srs.fetch(
        k,
        tmp_path / "out.srs",
        url=served["url"],
        table={k: served["dev_sha"]},
        progress=lambda done, total: seen.append((done, total)),
    )
    assert info.path == tmp_path / "out.srs" and info.sha256 == served["dev_sha"] and info.logrows == k
    assert info.path.read_bytes() == served["dev"].read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.srs"]  # no temp file left
    assert seen[-1] == (info.path.stat().st_size, info.path.stat().st_size)


def test_fetch_into_the_cache_with_the_shipped_table(served, fresh_home):
    info = srs.fetch(1, url=served["url"])
    assert info.path.is_relative_to(fresh_home / "srs") and info.path.read_bytes() == KZG1
    again = srs.ceremony_srs(info.path, 1, production=True)  # no pin: the digest is in zkml's table
    assert again.pinned and not again.dev and again.path == info.path  # the same cache entry: not copied twice


def test_a_mismatching_fetch_leaves_nothing(served, tmp_path, fresh_home):
    k = served["k"]
    dest = tmp_path / "dl"
    dest.mkdir()
    with pytest.raises(errors.SRSError, match="not its published .*deleted"):
        srs.fetch(k, dest / "out.srs", url=served["url"], table={k: "ab" * 32})
    assert list(dest.iterdir()) == []
    with pytest.raises(errors.SRSError, match="not its published"):  # the shipped table, a tampered file, the cache
        srs.fetch(1, url=served["url"] + "/tampered-{k}")
    assert not list((fresh_home / "srs").glob("*")) and not list((fresh_home / "tmp").glob("*"))
    with pytest.raises(errors.SRSError, match="cannot download"):
        srs.fetch(2, dest / "x.srs", url=served["url"])  # not served: 404
    assert list(dest.iterdir()) == []
    with pytest.raises(errors.SRSError, match="no ceremony SRS file"):
        srs.fetch(27, dest / "x.srs", url=served["url"])


def test_cli_srs_fetch(served, tmp_path):
    out = tmp_path / "kzg1.srs"
    env = {"ZKML_SRS_URL": served["url"], "ZKML_HOME": str(tmp_path / "home")}
    r = run_cli("srs", "fetch", "--logrows", "1", "-o", out, "--json", env=env)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["ok"] and info["sha256"] == EZKL_TABLE[1] and info["name"] == "perpetual-powers-of-tau-raw-1"
    assert out.read_bytes() == KZG1
    r = run_cli(
        "srs",
        "fetch",
        "-k",
        "1",
        "-o",
        tmp_path / "bad.srs",
        env={**env, "ZKML_SRS_URL": served["url"] + "/tampered-{k}"},
    )
    assert r.returncode == 1 and "sha256" in r.stderr and not (tmp_path / "bad.srs").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kzg1.srs"]


# setup --production and the verdicts


def test_setup_production_accepts_a_digest_in_the_table(served, mlp_circuit, mlp_x, tmp_path, monkeypatch):
    circuit = mlp_circuit.save(tmp_path / "circuit")
    args = ["setup", str(circuit), "--srs", str(served["dev"]), "--production", "-o", str(tmp_path / "keys"), "--json"]
    refused = CliRunner().invoke(cli, args)
    assert refused.exit_code != 0 and "not pinned" in str(refused.exception)
    monkeypatch.setattr(srs, "CEREMONIES", _table_file(tmp_path, served["k"], served["dev_sha"]))
    ok = CliRunner().invoke(cli, args)
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["srs"]["kind"] == "ceremony"
    keys = mlp_circuit.setup(srs=served["dev"], production=True)
    r = verify(keys.prove(mlp_x), keys.vk)
    assert r and (r.srs_status, r.srs_name) == ("ceremony", f"test-ceremony-{served['k']}")
    assert keys.vk.srs_status.kind == "ceremony"
    monkeypatch.setattr(srs, "CEREMONIES", Path(zkml.srs.__file__).with_name("srs_ceremonies.json"))
    assert verify(keys.prove(mlp_x), keys.vk).srs_status == "unknown"  # a verifier without that table


def test_a_dev_srs_is_unknown(mlp_keys, mlp_proof, monkeypatch):
    st = mlp_keys.vk.srs_status
    assert st.kind == "unknown" and "forge" in st.message and "dev" in st.message
    monkeypatch.setenv("ZKML_SRS_SHA256", mlp_keys.vk.srs.sha256)  # pinning a digest this home generated: still dev
    r = verify(mlp_proof, mlp_keys.vk)
    assert r and r.srs_status == "unknown" and "forge" in r.srs_message


def test_a_key_file_cannot_claim_a_ceremony_srs(mlp_keys, mlp_proof, tmp_path, fresh_home, monkeypatch):
    """vk.json edited to say "dev": false with its id recomputed, verified in a home that never generated it."""
    vk_dir = mlp_keys.vk.save(tmp_path / "vk")
    for marker in vk_dir.glob("*" + srs.DEV_MARKER):
        marker.unlink()
    meta = json.loads((vk_dir / "vk.json").read_text())
    meta["srs"]["dev"] = False
    meta["srs"]["pinned"] = True
    meta["id"] = identity(meta)
    (vk_dir / "vk.json").write_text(json.dumps(meta))
    files = {name: (vk_dir / name).read_bytes() for name in CORE_FILES}
    (vk_dir / "core.cid").write_text(core_cid(files, bundle_meta(meta)))  # a consistent forgery, CID and all
    vk = VerifyingKey.load(vk_dir)
    assert not vk.dev_srs and vk.srs_status.kind == "unknown"
    proof = Proof(mlp_proof.proof, mlp_proof.instances, {})
    r = verify(proof, vk)
    assert r, r.reason
    assert (r.srs_status, r.srs_name) == ("unknown", None) and "may forge proofs" in r.srs_message
    assert SplitVerifyingKey(None, (vk, vk)).srs_status.kind == "unknown"
    proof.save(tmp_path / "proof.json")
    res = CliRunner().invoke(cli, ["verify", str(tmp_path / "proof.json"), "--vk", str(vk_dir), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["srs_status"] == "unknown"
    text = CliRunner().invoke(cli, ["verify", str(tmp_path / "proof.json"), "--vk", str(vk_dir)]).output
    assert "srs       unknown" in text and "may forge proofs" in text
    # the verifier pins the digest: pinned (its own word, not the key file's)
    digest = vk.srs.sha256
    assert srs.srs_status(digest, pinned=digest).kind == "pinned"
    monkeypatch.setenv("ZKML_SRS_SHA256", digest)
    r = verify(proof, vk)
    assert (r.srs_status, r.srs_name) == ("pinned", None)
    assert SplitVerifyingKey(None, (vk, vk)).srs_status.kind == "pinned"
    res = CliRunner().invoke(cli, ["verify", str(tmp_path / "proof.json"), "--vk", str(vk_dir), "--json"])
    assert json.loads(res.output)["srs_status"] == "pinned"
