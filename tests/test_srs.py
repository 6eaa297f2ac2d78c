"""Ceremony SRS files are checked with pairings before use; corrupt ones are refused."""

import shutil

import pytest

import zkml
from zkml import errors
from zkml.srs import _G1, dev_srs


@pytest.fixture(scope="module")
def srs_file(tmp_path_factory):
    """A real KZG SRS file (made by ezkl.gen_srs) standing in for a ceremony file."""
    info = dev_srs(11)
    dst = tmp_path_factory.mktemp("srs") / "ceremony.srs"
    shutil.copyfile(info.path, dst)
    return dst


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


def test_setup_with_ceremony_srs(srs_file, mlp_circuit, mlp_x):
    keys = mlp_circuit.setup(srs=srs_file)
    assert not keys.dev_srs and "ceremony" in repr(keys)
    proof = keys.prove(mlp_x)
    assert not proof.dev_srs
    assert zkml.verify(proof, keys.vk)


def test_setup_refuses_corrupt_ceremony_srs(srs_file, tmp_path, mlp_circuit):
    bad = tmp_path / "trunc.srs"
    bad.write_bytes(srs_file.read_bytes()[:1000])
    with pytest.raises(errors.SRSError):
        mlp_circuit.setup(srs=bad)
