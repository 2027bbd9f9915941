"""`watchd user hash-password`: the Argon2id hash of a password for `[[users]] password_hash`
(or a `password_file`), so no plain password is ever written into config.toml.

The password is read from the terminal (typed twice, not echoed) or, when stdin is not a
terminal, as the first line of stdin (`pass show watchd/alice | watchd user hash-password`).
cli.py calls `add_commands`.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from watchd.people.passwords import hash_password

MIN_LENGTH = 8  # NIST SP 800-63B's minimum for a password chosen by its user


def add_commands(sub: Any) -> None:
    """Register `user hash-password` on the `watchd` parser (no config file needed)."""
    user = sub.add_parser("user", help="Local accounts of the dashboard.")
    actions = user.add_subparsers(metavar="ACTION")
    hashing = actions.add_parser(
        "hash-password",
        help="Print the Argon2id hash of a password read from the terminal or stdin.",
        description="Print the Argon2id hash of a password for [[users]] password_hash. The "
        "password is typed twice on a terminal, or read as the first line of stdin.",
    )
    hashing.set_defaults(func=_hash_password, config_fallback=None)


def _read_password() -> str | None:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        print("watchd: the two passwords differ; nothing was hashed", file=sys.stderr)
        return None
    return first


def _hash_password(args: argparse.Namespace) -> int:
    del args  # nothing to choose
    password = _read_password()
    if password is None:
        return 1
    if len(password) < MIN_LENGTH:
        print(f"watchd: a password needs at least {MIN_LENGTH} characters", file=sys.stderr)
        return 1
    print(hash_password(password))
    return 0
