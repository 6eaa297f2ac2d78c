"""Settings that succeed: when ezkl fails in a way a coarser fixed point cures, compile searches the scales (highest
first) instead of failing; a pinned scale, a constant no scale holds and an error no scale cures are refused by name;
a Rust panic is a ZKMLError naming the stage."""

import ast
import inspect
import json

import numpy as np
import pytest

import zkml
from zkml import engine
from zkml.circuit import build as build_mod
from zkml.errors import CompileError, ProveError, UnsupportedModelError, ZKMLError

RAW = 1e6  # raw, unnormalised features (incomes, prices): ezkl's calibration fails at every scale it tries


def _events(fn):
    seen = []
    result = fn(lambda e: seen.append(e.step))
    return result, seen


@pytest.fixture(scope="module")
def raw_model():
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)).eval()
    model = zkml.export(net, torch.randn(1, 4) * RAW)
    cal = (np.random.default_rng(0).standard_normal((8, 1, 4)) * RAW).astype(np.float32)
    return model, cal


@pytest.fixture(scope="module")
def searched(raw_model):
    model, cal = raw_model
    return _events(lambda cb: zkml.compile(model, cal, progress=cb))


def test_raw_features_compile_at_a_searched_scale_and_agree_with_onnxruntime(raw_model, searched):
    model, cal = raw_model
    circuit, steps = searched
    search = circuit.scale_search
    assert search is not None and search["chosen"] in build_mod.SEARCH_SCALES
    assert search["tried"] and all(s > search["chosen"] for s in search["tried"])  # highest first
    assert "calibration" in search["reason"]
    ra = circuit.settings["run_args"]
    assert ra["input_scale"] == ra["param_scale"] == search["chosen"]
    assert any(f"scale {search['chosen']} compiles" in s for s in steps)
    # the tried scales do fail when pinned: the search kept the first that compiles
    with pytest.raises(CompileError):
        zkml.compile(model, cal, scales=[search["tried"][-1]])
    # the circuit computes what onnxruntime does, within the calibration report's error
    assert circuit.report.samples == len(cal)
    for x in cal[:3]:
        ref = model.run({model.inputs[0].name: x})[0]
        got = circuit.run(x)[0]
        assert np.max(np.abs(np.asarray(ref, np.float64) - got)) <= circuit.report.max_abs_error * (1 + 1e-9)
    assert circuit.report.max_abs_error < 1e-2 * RAW  # coarse, but a fixed point for values of 1e6


def test_the_search_is_cached_deterministically(raw_model, searched):
    model, cal = raw_model
    first, _ = searched
    again, steps = _events(lambda cb: zkml.compile(model, cal, progress=cb))
    assert again.cached and again.key == first.key and again.scale_search == first.scale_search
    assert not any("trying scale" in s for s in steps)  # the failed scales are not tried again


def test_a_private_input_is_searched_too_and_nothing_of_it_is_kept(raw_model, searched):
    model, cal = raw_model
    circuit = zkml.compile(model, cal[:1], private_data=True)
    assert circuit.scale_search is not None and not circuit.cached
    assert circuit.report.private and circuit.report.max_abs_error is None  # no error measured on a private input
    again = zkml.compile(model, cal[:1], private_data=True)
    assert again.key != circuit.key  # never reused for another private input


def test_a_pinned_scale_that_fails_is_refused_with_the_hint_to_lower_it(raw_model):
    model, cal = raw_model
    with pytest.raises(CompileError) as info:
        zkml.compile(model, cal, scales=[12])
    err = info.value
    assert "pinned scale [12]" in err.message and "Gemm" in err.message  # the op whose values are too large
    assert "lower the pinned scale" in err.hint and "scales=[10]" in err.hint


def test_values_no_scale_from_the_floor_holds_are_refused_naming_the_node_and_the_scales_tried():
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3)).eval()
    model = zkml.export(net, torch.randn(1, 4) * 1e10)
    cal = (np.random.default_rng(0).standard_normal((4, 1, 4)) * 1e10).astype(np.float32)
    with pytest.raises(CompileError) as info:
        zkml.compile(model, cal)
    msg = info.value.message
    assert "no scale from 12 down to 4" in msg and "tried 12, 10, 8, 7, 6, 5, 4" in msg
    assert "(Gemm)" in msg and "normalise the inputs" in info.value.hint


class _Masked:
    """A linear layer whose outputs are filled with ``fill`` where the input is below ``below`` (a mask)."""

    @staticmethod
    def build(fill, below=0.0):
        import torch

        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.lin = torch.nn.Linear(4, 4)

            def forward(self, x):
                return self.lin(x).masked_fill(x < below, fill)

        torch.manual_seed(0)
        return zkml.export(Net().eval(), torch.randn(1, 4))


def test_a_constant_that_truncates_at_high_scales_starts_the_search_at_the_scale_that_holds_it():
    """ezkl's 'significant bit truncation ... try lowering the scale' for a 1e36 fill value (never reached on the
    data): the highest scale whose fixed point holds 1e36 (|c| * 2^s < 2^127: s = 7) is the first one tried."""
    model = _Masked.build(-1e36, below=-100.0)
    cal = np.random.default_rng(0).standard_normal((4, 1, 4)).astype(np.float32)
    circuit = zkml.compile(model, cal)
    assert circuit.scale_search["chosen"] == 7 and circuit.scale_search["tried"] == []
    assert "significant bit truncation" in circuit.scale_search["reason"]
    for x in cal:
        ref = model.run({model.inputs[0].name: x})[0]
        assert np.max(np.abs(ref - circuit.run(x)[0])) <= circuit.report.max_abs_error * (1 + 1e-9)
    assert circuit.report.max_abs_error < 0.05


def test_a_constant_no_scale_holds_is_refused_naming_its_node_without_a_search():
    """transformers' causal mask value, finfo(float32).min: ezkl says 'try lowering the scale', but none can."""
    model = _Masked.build(float(np.finfo(np.float32).min))
    cal = np.random.default_rng(0).standard_normal((4, 1, 4)).astype(np.float32)
    seen = []
    with pytest.raises(CompileError) as info:
        zkml.compile(model, cal, progress=lambda e: seen.append(e.step))
    err = info.value
    assert "no fixed-point scale holds it" in err.message and "(Where)" in err.message
    assert "-8 to -30" in err.hint
    assert not any("scale search" in s for s in seen)


def _decoder(mask: float):
    """A GPT-style decoder block at a tiny size: LayerNorm, causal softmax attention (2 heads), a GELU MLP, hidden
    16, 8 tokens as float embeddings; ``mask`` is the additive value above the diagonal."""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, d=16, t=8):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.fc1, self.fc2, self.head = nn.Linear(d, 4 * d), nn.Linear(4 * d, d), nn.Linear(d, 10)
            self.register_buffer("causal", torch.tril(torch.ones(t, t)).bool())

        def forward(self, x):
            b, t, d = x.shape
            q, k, v = (z.reshape(b, t, 2, d // 2).transpose(1, 2) for z in self.qkv(self.ln1(x)).split(d, -1))
            a = ((q @ k.transpose(-1, -2)) / (d // 2) ** 0.5).masked_fill(~self.causal, mask).softmax(-1)
            x = x + self.proj((a @ v).transpose(1, 2).reshape(b, t, d))
            x = x + self.fc2(nn.functional.gelu(self.fc1(self.ln2(x))))
            return self.head(x[:, -1])

    torch.manual_seed(0)
    return zkml.export(Block().eval(), torch.randn(1, 8, 16))


def test_a_decoder_with_transformers_causal_mask_is_refused_naming_the_mask_node():
    """The issue's GPT-style decoder: with finfo(float32).min above the diagonal (transformers' own mask value) ezkl
    said only 'significant bit truncation when instantiating, try lowering the scale'; now the refusal names the
    constant, the Where that reads it and what to use instead, before any search."""
    model = _decoder(float(np.finfo(np.float32).min))
    cal = np.random.default_rng(0).standard_normal((2, 1, 8, 16)).astype(np.float32)
    seen = []
    with pytest.raises(CompileError) as info:
        zkml.compile(model, cal, progress=lambda e: seen.append(e.step))
    assert "3.4e+38" in info.value.message and "(Where)" in info.value.message
    assert "finfo(float32).min" in info.value.hint
    assert not any("scale search" in s for s in seen)


def test_an_error_no_scale_cures_is_not_retried():
    """An op ezkl cannot translate (Det) fails at settings for a reason no scale cures: refused once, by name."""
    from onnx import TensorProto, helper

    g = helper.make_graph(
        [helper.make_node("Det", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    raw = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()
    seen = []
    with pytest.raises(UnsupportedModelError, match="'Det'") as info:
        cal = np.random.default_rng(0).standard_normal((2, 1, 2, 2)).astype(np.float32)
        zkml.compile(raw, cal, progress=lambda e: seen.append(e.step))
    assert not engine.lower_scale_may_help(info.value.message)
    assert not any("scale search" in s for s in seen)


def test_a_rust_panic_is_a_zkml_error_naming_the_stage(tmp_path, searched):
    """A real panic: ezkl's gen_witness indexes past an empty input_data ('index out of bounds', a pyo3
    PanicException, a BaseException): it comes back as the caller's ZKMLError, with no backtrace."""
    import json

    circuit, _ = searched
    (tmp_path / "empty.json").write_text(json.dumps({"input_data": []}))
    for error in (CompileError, ProveError):
        with pytest.raises(error) as info:
            engine.gen_witness(error, tmp_path / "empty.json", circuit.compiled_path, tmp_path / "w.json")
        err = info.value
        assert isinstance(err, ZKMLError) and err.stage == error.stage
        assert "witness generation" in err.message and "Rust panic" in err.message
        assert "stack backtrace" not in err.message and "panicked at" in err.message  # the cause, not the frames


def test_every_ezkl_call_goes_through_the_one_error_mapping():
    """gen_settings, calibrate_settings, compile_circuit, gen_witness, mock, setup, prove (and the rest) reach ezkl
    only through engine.call, which maps a PanicException like any failure; verify maps its own."""
    tree = ast.parse(inspect.getsource(engine))
    direct = {}
    for fn in (n for n in tree.body if isinstance(n, ast.FunctionDef)):
        for node in ast.walk(fn):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "ezkl"
            ):
                direct.setdefault(fn.name, []).append(node.func.attr)
    assert set(direct) <= {"run_args", "verify"}, direct  # run_args builds PyRunArgs; verify maps panics itself
    assert direct.get("run_args") == ["PyRunArgs"]
    for name in ("gen_settings", "calibrate_settings", "compile_circuit", "gen_witness", "mock", "setup", "prove"):
        assert f'"{name}"' in inspect.getsource(engine), name


def test_which_failures_a_lower_scale_may_cure():
    assert engine.lower_scale_may_help("[graph] [tensor] significant bit truncation when instantiating, try lowering")
    assert engine.lower_scale_may_help("failed to forward: [halo2] General synthesis error")
    assert not engine.lower_scale_may_help("required params: stride")
    assert not engine.lower_scale_may_help("unsupported operation: Resize")


@pytest.mark.parametrize(
    "garbage",
    [
        b'{"reason": "calibration", "tried": [12, 10], "cho',  # truncated
        b"\xff\xfe\x00not json at all",  # not UTF-8, not JSON
        b'{"reason": "x", "tried": [], "chosen": 99}',  # JSON, but no scale the search tries
        b'["chosen", 7]',  # JSON, not a search record
    ],
)
def test_a_corrupted_scale_search_memo_is_a_cache_miss_searched_again_and_replaced(raw_model, fresh_home, garbage):
    model, cal = raw_model
    first = zkml.compile(model, cal)
    (memo,) = (fresh_home / "tune").glob(build_mod.SEARCH_MEMO + "*/search.json")
    assert json.loads(memo.read_text()) == first.scale_search
    memo.write_bytes(garbage)
    again, steps = _events(lambda cb: zkml.compile(model, cal, progress=cb))
    assert any("trying scale" in s for s in steps)  # searched again, not a raw json error
    assert again.scale_search == first.scale_search and again.key == first.key
    assert json.loads(memo.read_text()) == first.scale_search  # the memo is whole again
    third, steps = _events(lambda cb: zkml.compile(model, cal, progress=cb))
    assert third.key == first.key and not any("trying scale" in s for s in steps)  # and read
