"""``streamfeat serve``: the HTTP feature server's command."""

from __future__ import annotations

import argparse

__all__ = ["add_command"]


def add_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``serve`` to the ``streamfeat`` parser (none yet)."""
