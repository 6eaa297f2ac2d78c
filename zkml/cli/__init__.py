"""``prove-model``: the command line (see :mod:`zkml.cli.main`)."""

from .main import cli, main

__all__ = ["cli", "main"]
