"""SRS files: checked with pairings before use, corrupt ones refused; dev and ceremony never confused."""

import hashlib
import shutil

import pytest

import zkml
from zkml import errors
from zkml.srs import _G1, dev_srs


@pytest.fixture(scope="module")
def srs_file(tmp_path_factory):
    """A real KZG SRS that zkml did not generate (ezkl.gen_srs called directly), standing in for a ceremony file."""
    import ezkl

    dst = tmp_path_factory.mktemp("srs") / "ceremony.srs"
    ezkl.gen_srs(str(dst), 11)
    return dst


def _sha(p) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_valid_srs_passes(srs_file):
    assert zkml.check_srs(srs_file, min_logrows=11) == 11


def test_too_small_srs(srs_file):
    with pytest.raises(errors.SRSError, match="needs 2\\^12"):
        zkml.check_srs(srs_file, min_logrows=12)


def test_truncated_srs(srs_file, tmp_path):
    bad = tmp_path / "trunc.srs"
    bad.write_bytes(srs_file.read_bytes()[:-100])
    with pytest.raises(errors.SRSError, match="truncated or corrupt"):
        zkml.check_srs(bad)


def test_srs_with_point_off_curve(srs_file, tmp_path):
    data = bytearray(srs_file.read_bytes())
    data[4 + _G1 + 5] ^= 0xFF  # the x coordinate of [tau]_1
    bad = tmp_path / "offcurve.srs"
    bad.write_bytes(bytes(data))
    with pytest.raises(errors.SRSError, match="corrupt"):
        zkml.check_srs(bad)


def test_srs_with_inconsistent_powers(srs_file, tmp_path):
    """Valid curve points in the wrong order: only the pairing check can notice."""
    data = bytearray(srs_file.read_bytes())
    one, two = 4 + _G1, 4 + 2 * _G1
    data[one : one + _G1], data[two : two + _G1] = data[two : two + _G1], data[one : one + _G1]
    bad = tmp_path / "swapped.srs"
    bad.write_bytes(bytes(data))
    with pytest.raises(errors.SRSError, match="pairing check"):
        zkml.check_srs(bad)


def test_not_an_srs(tmp_path):
    bad = tmp_path / "x.srs"
    bad.write_bytes(b"\xff\xff\xff\xff" + b"\0" * 64)
    with pytest.raises(errors.SRSError, match="not a valid KZG SRS"):
        zkml.check_srs(bad)
    with pytest.raises(errors.SRSError, match="not found"):
        zkml.check_srs(tmp_path / "missing.srs")


def test_setup_with_an_unpinned_srs(srs_file, mlp_circuit, mlp_x):
    """A self-consistent SRS that nobody pinned: usable, not dev, but not a ceremony SRS either."""
    keys = mlp_circuit.setup(srs=srs_file)
    assert not keys.dev_srs and keys.srs.kind == "unpinned" and not keys.srs.pinned
    proof = keys.prove(mlp_x)
    assert not proof.dev_srs
    assert zkml.verify(proof, keys.vk)
    with pytest.raises(errors.SRSError, match="not pinned"):
        mlp_circuit.setup(srs=srs_file, production=True)
    with pytest.raises(errors.ContractError, match="not pinned"):
        zkml.verifier_contract(keys.vk, production=True)


def test_setup_with_a_pinned_ceremony_srs(srs_file, mlp_circuit, mlp_x):
    keys = mlp_circuit.setup(srs=srs_file, srs_sha256=_sha(srs_file), production=True)
    assert keys.srs.kind == "ceremony" and keys.srs.pinned and not keys.dev_srs and "ceremony" in repr(keys)
    assert zkml.verify(keys.prove(mlp_x), keys.vk)


def test_a_wrong_pin_is_refused(srs_file, mlp_circuit):
    with pytest.raises(errors.SRSError, match="not the pinned"):
        mlp_circuit.setup(srs=srs_file, srs_sha256="00" * 32)
    with pytest.raises(errors.SRSError, match="64 hex"):
        mlp_circuit.setup(srs=srs_file, srs_sha256="abc")


def test_the_dev_srs_passed_back_stays_dev(mlp_circuit, tmp_path, monkeypatch):
    """The forger's move: hand zkml's own dev SRS back as "my ceremony file", even pinned by its digest."""
    copy = tmp_path / "my-ceremony.srs"
    shutil.copyfile(dev_srs(11).path, copy)  # no marker beside it: the registry in ZKML_HOME knows the digest
    keys = mlp_circuit.setup(srs=copy)
    assert keys.dev_srs and keys.srs.kind == "dev"
    for pin in (None, _sha(copy)):
        monkeypatch.delenv("ZKML_SRS_SHA256", raising=False)
        with pytest.raises(errors.SRSError, match="dev SRS"):
            mlp_circuit.setup(srs=copy, srs_sha256=pin, production=True)
    with pytest.raises(errors.SRSError, match="ceremony"):
        mlp_circuit.setup(production=True)


def test_the_dev_marker_travels_with_the_file(mlp_circuit, tmp_path, monkeypatch):
    """In another ZKML_HOME the registry is empty: the marker file beside a copied dev SRS still says dev."""
    src = dev_srs(11).path
    copy = tmp_path / "kzg.srs"
    shutil.copyfile(src, copy)
    shutil.copyfile(str(src) + ".zkml-dev", str(copy) + ".zkml-dev")
    monkeypatch.setenv("ZKML_HOME", str(tmp_path / "other-home"))
    with pytest.raises(errors.SRSError, match="dev SRS"):
        mlp_circuit.setup(srs=copy, srs_sha256=_sha(copy), production=True)


def test_setup_refuses_corrupt_ceremony_srs(srs_file, tmp_path, mlp_circuit):
    bad = tmp_path / "trunc.srs"
    bad.write_bytes(srs_file.read_bytes()[:1000])
    with pytest.raises(errors.SRSError):
        mlp_circuit.setup(srs=bad)
