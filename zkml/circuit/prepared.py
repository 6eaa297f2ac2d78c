"""What compile is handed, parsed once: :class:`Prepared`.

``zkml.compile``, ``zkml.tune`` and ``zkml.estimate`` turn their arguments into one ``Prepared`` (the model loaded,
the visibility parsed, the cache chosen; the calibration data batched when first needed), and pass it down:
the tuner, ``build`` and the split planner take it and never load, parse or batch again, nor call back up into
``compiler.py``. A split segment is another ``Prepared`` (:meth:`Prepared.part`) with the segment's own model,
calibration batch and visibility.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Mapping

from ..model.inputs import to_batch
from ..model.model import Model, load_model
from ..support.deps import need
from ..support.hashing import sha256_bytes
from ..support.store import Store
from .visibility import Visibility


@dataclass(frozen=True, eq=False)
class Prepared:
    """A model, its calibration data, the visibility, the cache, and whether the data is a private input."""

    model: Model
    calibration_data: Any = field(repr=False)
    vis: Visibility
    store: Store = field(repr=False)
    private_data: bool = False

    @classmethod
    def of(
        cls,
        model: Model | Any,
        calibration_data: Any,
        visibility: Visibility | str | Mapping | None = None,
        store: Store | None = None,
        *,
        private_data: bool = False,
    ) -> "Prepared":
        """Load ``model`` (a ``Model``, a path or ONNX bytes) and parse ``visibility``: the one place that does."""
        m = model if isinstance(model, Model) else load_model(model)
        return cls(m, calibration_data, Visibility.parse(visibility), store or Store(), private_data)

    @cached_property
    def batch(self) -> Mapping[str, Any]:
        """The calibration data as ``{input: (N, *shape) array}``, batched once, when first needed (so that the
        arguments' own errors come first, as they always did)."""
        return to_batch(self.model, self.calibration_data)

    def part(self, model: Model, batch: Mapping[str, Any], vis: Visibility) -> "Prepared":
        """A split segment's: its own model, calibration batch and visibility, on the same cache."""
        seg = Prepared(model, batch, vis, self.store, self.private_data)
        seg.__dict__["batch"] = batch  # already a batch: cached_property reads the instance dict first
        return seg

    @property
    def samples(self) -> int:
        return int(next(iter(self.batch.values())).shape[0])

    def first_sample(self) -> dict:
        return {name: arr[0] for name, arr in self.batch.items()}

    @cached_property
    def _data_hash(self) -> str:
        np = need("numpy")
        return sha256_bytes(
            b"".join(np.asarray(self.batch[t.name], dtype=np.float64).tobytes() for t in self.model.inputs)
        )

    def data_id(self) -> str:
        """The calibration data's part of a circuit's cache key. For a private input no trace of the data but a
        fresh random salt on every call: a circuit calibrated on one private input is never reused for another."""
        if self.private_data:
            return "private input, never reused: " + secrets.token_hex(16)
        return self._data_hash
