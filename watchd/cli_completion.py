"""`watchd completion bash|zsh|fish`: a shell completion script generated from the parser.

shtab writes the script from argparse's own tree (commands, options, choices), so it cannot
drift from the CLI and completing costs no Python start per Tab. Arguments marked with
`file_names` (`-c`, rule test and scenario files, `--output`) complete file names.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import shtab

SHELLS = ("bash", "zsh", "fish")


def add_command(sub: Any, build_parser: Callable[[], argparse.ArgumentParser]) -> None:
    """Register `completion SHELL`; `build_parser` gives the whole `watchd` parser."""
    cmd = sub.add_parser(
        "completion",
        help="Print a shell completion script (bash, zsh or fish).",
        description=(
            "Print a completion script for SHELL, e.g. "
            "`watchd completion bash > /etc/bash_completion.d/watchd`."
        ),
    )
    cmd.add_argument("shell", choices=SHELLS, help="the shell to complete in")
    cmd.set_defaults(func=lambda args: _print_script(build_parser(), args.shell))


def file_names(action: argparse.Action) -> argparse.Action:
    """Mark `action` (what `add_argument` returned) as naming a file: the shells complete it
    with file names."""
    # shtab's protocol: an action's `complete` names the completer per shell.
    action.complete = shtab.FILE  # type: ignore[attr-defined]
    return action


def completion_script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The completion script for `shell` of the `watchd` parser."""
    script: str = shtab.complete(parser, shell=shell)
    return script


def _print_script(parser: argparse.ArgumentParser, shell: str) -> int:
    print(completion_script(parser, shell))
    return 0
