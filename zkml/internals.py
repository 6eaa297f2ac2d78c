"""The one documented internal surface: what zkml's own zoo (``models/``) and benchmarks (``benchmarks/``) use
beyond the public API, to drive ezkl's reference flow with the same inputs and SRS. Stable within a
release; not for applications (their needs belong in the public API)."""

from __future__ import annotations

from .circuit.estimate import for_settings as estimate_settings
from .circuit.estimate import for_split as estimate_segments
from .circuit.plan import critical_path
from .circuit.split import chain_feeds, first_feeds
from .model.inputs import ezkl_input_json, load_input_file, to_batch
from .srs import dev_srs
from .support.deps import ezkl_version
from .support.files import private_tempdir

__all__ = [
    "chain_feeds",
    "critical_path",
    "dev_srs",
    "estimate_segments",
    "estimate_settings",
    "ezkl_input_json",
    "ezkl_version",
    "first_feeds",
    "load_input_file",
    "private_tempdir",
    "to_batch",
]
