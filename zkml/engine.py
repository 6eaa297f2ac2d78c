"""The ezkl boundary: the only module of zkml that imports ezkl.

Every call goes through :func:`call`, which silences ezkl's native output, maps its failures to the
caller's ``ZKMLError`` subclass with one rule, and scrubs every number out of ezkl's text first: a
witness value in an error message is a value computed from a private input. Paths in, paths out; the
stages above never see ezkl's argument orders, async functions or panic texts.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from .errors import CompileError, ContractError, SRSError, UnsupportedModelError, VerifyError
from .support.deps import need
from .support.files import store_error
from .support.scrub import scrub

# zkml's names for visibilities -> ezkl's ("committed" weights are ezkl's polycommit)
_EZKL_VISIBILITY = {
    "private": "private",
    "public": "public",
    "hashed": "hashed",
    "fixed": "fixed",
    "committed": "polycommit",
    "polycommit": "polycommit",
}


@contextlib.contextmanager
def captured_native_output() -> Iterator[list[str]]:
    """Silence ezkl's native stdout (tables) and capture its stderr and log records (the real cause of an error).

    Yields a list that, after the block, holds the captured lines, scrubbed. With ``ZKML_DEBUG=1`` nothing
    is captured (the user asked to see everything, on their own terminal).
    """
    lines: list[str] = []
    if os.environ.get("ZKML_DEBUG"):
        yield lines
        return

    class _Collect(logging.Handler):  # ezkl logs through Python's logging (pyo3-log), not only stderr
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING:
                logged.append(record.getMessage())

    logged: list[str] = []
    ezkl_logger = logging.getLogger("ezkl")
    handler, saved_propagate = _Collect(), ezkl_logger.propagate
    ezkl_logger.addHandler(handler)
    ezkl_logger.propagate = False
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    errfile = tempfile.TemporaryFile()
    try:
        os.dup2(devnull, 1)
        os.dup2(errfile.fileno(), 2)
        yield lines
    finally:
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        for fd in (saved_out, saved_err, devnull):
            os.close(fd)
        errfile.seek(0)
        text = errfile.read(65536).decode(errors="replace")
        errfile.close()
        ezkl_logger.removeHandler(handler)
        ezkl_logger.propagate = saved_propagate
        lines.extend(scrub(ln) for ln in [*logged, *text.splitlines()] if ln.strip())


def call(
    stage_error: type,
    what: str,
    fn: str,
    *args: Any,
    where: object = None,
    ops: Callable[[], Sequence[tuple[str, str]]] | None = None,
) -> Any:
    """``ezkl.<fn>(*args)`` with its output captured; a failure becomes ``stage_error`` (scrubbed, with context).

    ``ops()`` gives the model's nodes as (op type, node name), read only on failure: a failure that names one of the op types as
    unsupported becomes an :class:`UnsupportedModelError` naming that op and its nodes (from the model).
    """
    ezkl = need("ezkl")
    with captured_native_output() as native:
        try:
            return getattr(ezkl, fn)(*args)
        except BaseException as err:  # a Rust panic is pyo3's PanicException, a BaseException
            if not _is_failure(err):
                raise
            failure = err
    raw = str(failure)
    if _is_panic(failure):  # the text of the assertion, not the backtrace frames ezkl printed
        raw = f"Rust panic: {raw}"
        native[:] = [ln for ln in native if "panicked at" in ln]
    for text, code in (
        ("No space left on device", errno.ENOSPC),
        ("Read-only file system", errno.EROFS),
        ("Permission denied", errno.EACCES),
    ):
        if text in raw:
            raise store_error(OSError(code, text), where or "ZKML_HOME", stage=stage_error.stage) from None
    msg = scrub(raw)
    if native:
        msg += " [ezkl log: " + scrub(" | ".join(native[-3:]), 200) + "]"
    _raise_if_unsupported(ops, raw + " " + msg, msg)
    # not chained: ezkl's own exception text is unscrubbed and may quote witness values
    raise stage_error(
        f"ezkl {fn} failed during {what}: {msg}",
        where=where,
        hint="run with ZKML_DEBUG=1 for ezkl's full output; report the model if this looks like an ezkl bug",
    ) from None


def _is_panic(err: BaseException) -> bool:
    return type(err).__name__ == "PanicException"


def _is_failure(err: BaseException) -> bool:
    """An error of ezkl's (any Exception, or a Rust panic), not a signal to stop (Ctrl-C, sys.exit)."""
    return (
        isinstance(err, Exception)
        or _is_panic(err)
        or not isinstance(err, (KeyboardInterrupt, SystemExit, GeneratorExit))
    )


def _raise_if_unsupported(ops: Callable[[], Sequence[tuple[str, str]]] | None, raw: str, msg: str) -> None:
    low = raw.lower()
    if ops is None or not any(s in low for s in ("unsupported", "not supported", "unknown op", "unimplemented")):
        return
    ops = ops()
    hits = [op for op in dict.fromkeys(t for t, _ in ops) if re.search(rf"\b{re.escape(op)}\b", raw)]
    if hits:
        op = hits[0]
        names = [name or f"#{i}" for i, (t, name) in enumerate(ops) if t == op][:5]
        raise UnsupportedModelError(
            f"ezkl cannot compile op '{op}' (node {', '.join(names)})",
            where=f"model -> {names[0]}",
            hint=f"replace '{op}' with supported ops, or remove it from the model; ezkl said: {msg[:200]}",
        )
    raise UnsupportedModelError(
        f"ezkl cannot compile this model: {msg}",
        where="model",
        hint="replace the unsupported operation with supported ones",
    )


# ezkl's words for a failure that a coarser fixed-point scale can cure: a constant or value too large for the
# field element it is quantised into ("significant bit truncation ... try lowering the scale"), a value past the
# range of a lookup table or of the range-check decomposition (calibration's forward pass then fails with
# "General synthesis error" at every scale it tried, "could not find any suitable parameters"), a column too small.
LOWER_SCALE_FAILURES = (
    "try lowering the scale",
    "significant bit truncation",
    "too large for the column",
    "values too large",
    "general synthesis error",
    "could not find any suitable parameters",
    "lookup range",
)


def lower_scale_may_help(message: str) -> bool:
    """Whether an ezkl failure (a CompileError's message) is one that a lower input/param scale can fix."""
    low = message.lower()
    return any(s in low for s in LOWER_SCALE_FAILURES)


def truncation(message: str) -> bool:
    """ezkl could not quantise a constant (or a value) at the scale it was given: too many bits."""
    low = message.lower()
    return "significant bit truncation" in low or "try lowering the scale" in low


# largest magnitude ezkl's fixed point holds: values are quantised to i128 (|v| * 2^scale below 2^127); measured
# with gen_settings on a constant: 1e30 passes at scale 13, finfo(float32).min (-3.4e38) fails at every scale >= 0
FIXED_POINT_BITS = 127


# settings and compile
def run_args(visibility: Mapping[str, str], options: Mapping[str, Any], variables: Sequence[Sequence[Any]]):
    """ezkl's PyRunArgs with every visibility set explicitly (its Python defaults make inputs public)."""
    ezkl = need("ezkl")
    ra = ezkl.PyRunArgs()
    ra.input_visibility = _EZKL_VISIBILITY[visibility["input"]]
    ra.output_visibility = _EZKL_VISIBILITY[visibility["output"]]
    ra.param_visibility = _EZKL_VISIBILITY[visibility["params"]]
    for name in ("decomp_base", "decomp_legs", "num_inner_cols", "scale_rebase_multiplier"):
        setattr(ra, name, int(options[name]))
    ra.variables = [tuple(v) for v in variables]
    for name in ("input_scale", "param_scale", "logrows"):
        if name in options:
            setattr(ra, name, int(options[name]))
    return ra


def compile_model(
    onnx: Path,
    settings: Path,
    compiled: Path,
    ra,
    calibration: Path,
    *,
    target: str,
    margin: float,
    scales: list[int] | None,
    rebase: int,
    max_logrows: int | None,
    ops: Callable[[], Sequence[tuple[str, str]]],
    min_logrows: int | None = None,
) -> None:
    """gen_settings, calibrate_settings (on a private calibration file) and compile_circuit.

    ``min_logrows`` raises the calibrated logrows to at least that (linked split segments must share one
    row count: their KZG commitments are taken over the same Lagrange basis)."""
    call(CompileError, "settings", "gen_settings", str(onnx), str(settings), ra, ops=ops)
    call(
        CompileError,
        "calibration",
        "calibrate_settings",
        str(calibration),
        str(onnx),
        str(settings),
        target,
        float(margin),
        scales,
        [int(rebase)],
        max_logrows,
        ops=ops,
    )
    if min_logrows is not None:
        s = json.loads(settings.read_text())
        if int(s["run_args"]["logrows"]) < int(min_logrows):
            s["run_args"]["logrows"] = int(min_logrows)
            settings.write_text(json.dumps(s))
    call(CompileError, "compile", "compile_circuit", str(onnx), str(compiled), str(settings), ops=ops)


# witness, mock, setup, prove, verify
def gen_witness(
    stage_error: type, data: Path, compiled: Path, out: Path, vk: Path | None = None, srs: Path | None = None
) -> dict:
    """A witness (mode 0600: it holds the private input) and its JSON; with ``vk`` and ``srs`` ezkl also
    computes the KZG commitments of polycommit (committed) columns."""
    call(
        stage_error,
        "witness generation",
        "gen_witness",
        str(data),
        str(compiled),
        str(out),
        None if vk is None else str(vk),
        None if srs is None else str(srs),
    )
    os.chmod(out, 0o600)
    return json.loads(out.read_text())


def mock(witness: Path, compiled: Path) -> bool:
    return bool(call(CompileError, "mock proving", "mock", str(witness), str(compiled)))


def setup(stage_error: type, compiled: Path, vk: Path, pk: Path, srs: Path, where: object = None) -> None:
    call(stage_error, "setup", "setup", str(compiled), str(vk), str(pk), str(srs), None, False, where=where)


def prove(
    stage_error: type, witness: Path, compiled: Path, pk: Path, out: Path, srs: Path, where: object = None
) -> dict:
    call(stage_error, "proving", "prove", str(witness), str(compiled), str(pk), str(out), str(srs), where=where)
    return json.loads(out.read_text())


def verify(proof: Path, settings: Path, vk: Path, srs: Path) -> tuple[bool, str | None]:
    """(True, None) or (False, why). A key, settings or SRS that cannot be read raises VerifyError."""
    ezkl = need("ezkl")
    try:
        with captured_native_output():
            ok = ezkl.verify(str(proof), str(settings), str(vk), str(srs), False)
    except BaseException as err:  # a Rust panic too (PanicException); Ctrl-C and sys.exit pass through
        if not _is_failure(err):
            raise
        msg = ("Rust panic: " if _is_panic(err) else "") + str(err)
        if "[halo2]" in msg or "proof" in msg.lower() and "load" not in msg.lower():
            return False, scrub(msg.split(": ", 1)[-1])
        raise VerifyError(
            f"cannot check the proof: {scrub(msg)}",
            where=vk.parent,
            hint="the verifying key or settings file is corrupt or from another ezkl version; run setup again",
        ) from None
    return (True, None) if ok else (False, "ezkl rejected the proof")


def swap_commitments(proof: Path, witness: Path) -> dict:
    """Write the witness's polycommit commitments into ``proof`` (ezkl's swap_proof_commitments)."""
    from .errors import ProveError

    call(ProveError, "linking commitments", "swap_proof_commitments", str(proof), str(witness))
    return json.loads(proof.read_text())


# SRS
def gen_srs(path: Path, logrows: int) -> None:
    """A fresh (INSECURE, locally generated) SRS: ezkl.gen_srs, never get_srs (it downloads)."""
    call(SRSError, "dev SRS generation", "gen_srs", str(path), int(logrows), where=path)


# EVM verifier
# ezkl writes the .sol and then wants a native solc 0.8.20 under $HOME/.svm (downloading one if absent).
# It runs in a child process whose HOME is zkml's own data dir; the failed native compile is accepted
# (solc-js compiles the written source). The child also isolates ezkl's async runtime.
_GEN = r"""
import asyncio, os, sys, ezkl
vk, settings, sol, srs, reusable, vka = sys.argv[1:7]
async def main():
    try:
        await ezkl.create_evm_verifier(vk, settings, sol, sol + ".abi", srs, reusable == "1")
    except RuntimeError as err:
        if not os.path.exists(sol):
            raise
        if "svm" not in str(err) and "solc" not in str(err).lower():
            raise
    if vka != "-":
        await ezkl.create_evm_vka(vk, settings, vka, srs)
asyncio.run(main())
sys.stdout.flush()
os._exit(0)
"""


def evm_verifier(
    vk: Path, settings: Path, srs: Path, sol: Path, *, reusable: bool, vka: Path | None, home: Path
) -> None:
    """Write ezkl's Solidity verifier to ``sol`` (and the VKA of a reusable one to ``vka``)."""
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HOME": str(home)}
    args = [str(vk), str(settings), str(sol), str(srs), "1" if reusable else "0", str(vka) if vka else "-"]
    try:
        proc = subprocess.run([sys.executable, "-c", _GEN, *args], env=env, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired as err:
        raise ContractError(
            "ezkl did not write the verifier within 5 minutes",
            where=vk.parent,
            hint="ezkl may be trying to download solc: check that the machine has no half-open network",
        ) from err
    if proc.returncode != 0 or not sol.exists():
        raise ContractError(
            f"ezkl could not generate the verifier: {scrub(proc.stderr.strip()[-600:])}",
            where=vk.parent,
            hint="check that the verifying key matches its settings and SRS",
        )
