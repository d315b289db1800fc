"""``streamfeat backfill`` and ``streamfeat parity`` (see :mod:`streamfeat.backfill`)."""

from __future__ import annotations

import argparse

__all__ = ["add_command"]


def add_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the backfill commands to the ``streamfeat`` parser (none yet)."""
