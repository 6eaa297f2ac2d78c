"""Scrub text that may carry values computed from a private input before it reaches an error or a log.

ezkl's error and log texts can quote witness values (decimal, hex field elements, arrays). Every number
goes, whatever its size: a small integer can be a private pixel. Words, op names and paths stay, and so do
identifiers whose digits follow letters (halo2, sha256, bn254, keccak256, conv2d, input_0): their digits are
part of a name, not a value.
"""

from __future__ import annotations

import re

_HEX = re.compile(r"0x[0-9a-fA-F]+|\b[0-9a-fA-F]{16,}\b")
# left to right: a whole identifier (a letter or _ first, not glued to a digit: halo2, bn254) stays; a number goes
_TOKEN = re.compile(r"(?P<word>(?<![0-9])[A-Za-z_][A-Za-z0-9_]*)|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
MAX_CHARS = 300


def scrub(text: str, limit: int = MAX_CHARS) -> str:
    """``text`` with every number and hex string replaced by ``<n>``, cut to ``limit`` characters."""
    out = _TOKEN.sub(lambda m: m.group("word") or "<n>", _HEX.sub("<n>", str(text)))
    out = re.sub(r"(<n>[\s,;]*){2,}", "<n>… ", out)  # a run of values (an array) becomes one marker
    out = " ".join(out.split())
    return out if len(out) <= limit else out[: limit - 1] + "…"
