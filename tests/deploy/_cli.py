"""Checks that a command line written in a deploy file is one the streamfeat CLI accepts."""

from __future__ import annotations

import argparse
import contextlib
import io
import re
from collections.abc import Mapping, Sequence

import pytest

from streamfeat.cli import build_parser

_VARIABLE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def expand(args: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """Kubernetes ``$(NAME)`` references replaced by ``env`` values; an unknown name fails."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            pytest.fail(f"{list(args)} refers to $({name}), which the container does not define")
        return env[name]

    return [_VARIABLE.sub(value, arg) for arg in args]


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse keeps subparsers only here
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("the streamfeat parser has no subcommands")


def check_command_line(args: Sequence[str], where: str) -> argparse.Namespace:
    """Parse ``args`` (without the leading ``streamfeat``) with the real CLI parser."""
    parser = build_parser()
    commands = _commands(parser)
    assert args, f"{where}: empty streamfeat command"
    assert args[0] in commands, (
        f"{where}: `streamfeat {args[0]}` is not a streamfeat command (known: {sorted(commands)})"
    )
    errors = io.StringIO()
    with contextlib.redirect_stderr(errors):
        try:
            return parser.parse_args(list(args))
        except SystemExit as exc:
            pytest.fail(f"{where}: `streamfeat {' '.join(args)}` does not parse ({exc.code}): {errors.getvalue()}")
