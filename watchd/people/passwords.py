"""Passwords of local accounts: Argon2id hashes (argon2-cffi, the reference implementation's
binding), made by `watchd user hash-password` and checked at dashboard sign-in.

A check takes about as long whether or not the user exists (an unknown name is checked
against a dummy hash), so the time of a failed sign-in does not tell which names are users.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from watchd.people.config import UserConfig
from watchd.secrets import SecretError

_HASHER = PasswordHasher()  # the library's defaults follow RFC 9106's recommendation
HASH_PREFIX = "$argon2"


def hash_password(password: str) -> str:
    """The Argon2id hash of `password`, with a fresh salt, in the PHC string format."""
    return _HASHER.hash(password)


@cache
def _dummy() -> str:
    return hash_password("watchd: no such user")


def verify_password(hashed: str | None, password: str) -> bool:
    """Whether `password` matches `hashed`; with no hash (unknown user, no password) False,
    after as much work as a real check."""
    try:
        return _HASHER.verify(hashed or _dummy(), password) and hashed is not None
    except (VerificationError, InvalidHashError):
        return False


def read_password_hash(user: UserConfig) -> str | None:
    """The user's password hash: `password_hash`, or the file's hash, or the hash of the
    password the file holds; None when the user has no password. Raises SecretError when the
    file cannot be read or is empty."""
    if user.password_file is None:
        return user.password_hash
    try:
        text = user.password_file.read_text().rstrip("\r\n")
    except OSError as exc:
        raise SecretError(f"file {user.password_file}", exc.strerror or str(exc)) from exc
    if not text:
        raise SecretError(f"file {user.password_file}", "it is empty")
    return text if text.startswith(HASH_PREFIX) else hash_password(text)


@dataclass(frozen=True, slots=True)
class Account:
    """A user who may sign in to the dashboard: who they are and their password's hash."""

    user: str
    label: str  # "Alice Li (alice)": how actions they take are recorded
    password_hash: str
    locale: str | None = None  # the dashboard's language for them (None: the browser's)
