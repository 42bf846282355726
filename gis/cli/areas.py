"""Area subcommands: layers, areas, check, validate, plan-check, convert."""

from __future__ import annotations

from . import cli

__all__: list[str] = []
