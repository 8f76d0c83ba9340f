"""Password hashing for the coordinator's users: the standard library's scrypt (memory-hard),
a random salt per password, and the parameters stored with the hash so they can be raised later
without breaking existing passwords. Nothing here is home-made beyond the encoding."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

#: scrypt's cost: N=2**14, r=8 takes 16 MiB and tens of milliseconds per check (RFC 7914's
#: interactive-login figure).
COST_N = 2**14
BLOCK_R = 8
PARALLEL_P = 1
SALT_BYTES = 16
KEY_BYTES = 32
#: What any stored hash may ask for; larger parameters in a row are refused (not a way to make
#: a login take minutes).
MAX_N = 2**20
#: Passwords longer than this are refused before hashing (hashing cost grows with the length).
MAX_PASSWORD = 1024
MIN_PASSWORD = 8


@dataclass(frozen=True)
class Hashed:
    n: int
    r: int
    p: int
    salt: bytes
    key: bytes

    def encode(self) -> str:
        salt = base64.b64encode(self.salt).decode()
        key = base64.b64encode(self.key).decode()
        return f"scrypt${self.n}${self.r}${self.p}${salt}${key}"


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, dklen=KEY_BYTES, maxmem=256 * r * n
    )


def password_problem(password: str) -> str | None:
    """What is wrong with a new password, or None."""
    if len(password) < MIN_PASSWORD:
        return f"the password is {len(password)} characters; it needs at least {MIN_PASSWORD}"
    if len(password) > MAX_PASSWORD:
        return f"the password is longer than {MAX_PASSWORD} characters"
    return None


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(SALT_BYTES)
    key = _derive(password, salt, COST_N, BLOCK_R, PARALLEL_P)
    return Hashed(COST_N, BLOCK_R, PARALLEL_P, salt, key).encode()


def decode(stored: str) -> Hashed | None:
    """The parts of a stored hash, or None when it is not one this module wrote."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return None
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, key = base64.b64decode(parts[4], validate=True), base64.b64decode(parts[5])
    except ValueError:
        return None
    if not (1 < n <= MAX_N and n & (n - 1) == 0 and 0 < r <= 32 and 0 < p <= 16 and key):
        return None
    return Hashed(n, r, p, salt, key)


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches; compared in constant time."""
    hashed = decode(stored)
    if hashed is None or len(password) > MAX_PASSWORD:
        return False
    candidate = _derive(password, hashed.salt, hashed.n, hashed.r, hashed.p)
    return hmac.compare_digest(candidate, hashed.key)


#: Checked against when the name is unknown, so a wrong name costs as long as a wrong password
#: (no telling which names exist by the time a login takes).
DUMMY_HASH = Hashed(COST_N, BLOCK_R, PARALLEL_P, b"\0" * SALT_BYTES, b"\0" * KEY_BYTES).encode()
