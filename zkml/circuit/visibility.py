"""``Visibility``: who sees the input, the output and the weights."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from ..errors import VisibilityError

# committed input/output: private, bound to a KZG commitment in the proof (how split segments are linked)
IO_MODES = ("private", "public", "hashed", "committed")
# committed: private weights bound to a public KZG commitment (ezkl's polycommit), at no extra rows
PARAM_MODES = ("fixed", "committed", "private", "hashed")
FIELDS = ("input", "output", "params")


@dataclass(frozen=True)
class Visibility:
    """``input``/``output``: private, public, hashed or committed; ``params``: fixed, committed, private or hashed.

    ``params="private"`` binds nothing (any weights of this shape satisfy the proof), so it is refused
    unless ``allow_unbound_params=True`` says that is what is wanted; ``committed`` is the way to keep
    weights private and still bound to one published model.
    """

    input: str = "private"
    output: str = "public"
    params: str = "fixed"
    allow_unbound_params: bool = False

    def __post_init__(self):
        for fld, allowed in (("input", IO_MODES), ("output", IO_MODES), ("params", PARAM_MODES)):
            v = getattr(self, fld)
            if v not in allowed:
                raise VisibilityError(
                    f"visibility {fld}={v!r} is not supported",
                    where=f"visibility -> {fld}",
                    hint=f"use one of {', '.join(allowed)}",
                )
        if self.params == "private" and not self.allow_unbound_params:
            raise VisibilityError(
                "params=private proves nothing about which weights ran: any model of this shape satisfies the proof",
                where="visibility -> params",
                hint="use params=committed (private weights bound to a public commitment), or pass "
                "allow_unbound_params=True (CLI: params=private-unbound) if that is really what you want",
            )

    @classmethod
    def parse(cls, spec: "Visibility | str | Mapping | None", base: "Visibility | None" = None) -> "Visibility":
        """Accept a Visibility, a dict, or ``"input=private,output=public,params=fixed"``.

        Fields not given keep ``base``'s value (default: the defaults), so ``"output=hashed"`` overrides
        one field of a spec's visibility. ``params=private-unbound`` is ``params=private`` with the opt-in.
        """
        if isinstance(spec, Visibility):
            return spec
        fields = dict((base or cls()).to_json())
        fields["allow_unbound_params"] = (base or cls()).allow_unbound_params
        if spec is None:
            return cls(**fields)
        if isinstance(spec, str):
            parts = {}
            for item in filter(None, (s.strip() for s in spec.split(","))):
                k, sep, v = item.partition("=")
                if not sep:
                    raise VisibilityError(
                        f"cannot read {item!r}",
                        where="visibility",
                        hint="write it as input=private,output=public,params=fixed",
                    )
                parts[k.strip()] = v.strip()
            spec = parts
        if not isinstance(spec, Mapping):
            raise VisibilityError(
                f"cannot read a visibility from {type(spec).__name__}",
                where="visibility",
                hint="pass a string, a dict or a Visibility",
            )
        unknown = set(spec) - {*FIELDS, "allow_unbound_params"}
        if unknown:
            raise VisibilityError(
                f"unknown visibility field(s) {sorted(unknown)}",
                where="visibility",
                hint="the fields are input, output and params",
            )
        fields.update(spec)
        if fields["params"] == "private-unbound":
            fields.update(params="private", allow_unbound_params=True)
        return cls(**fields)

    def to_json(self) -> dict:
        return {"input": self.input, "output": self.output, "params": self.params}

    @classmethod
    def from_json(cls, d: Mapping) -> "Visibility":
        """A visibility recorded by zkml itself (a circuit or key): private params were opted into then."""
        return cls(d["input"], d["output"], d["params"], allow_unbound_params=d["params"] == "private")

    def __str__(self) -> str:
        return f"input={self.input},output={self.output},params={self.params}"
