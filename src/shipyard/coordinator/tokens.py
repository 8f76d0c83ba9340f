"""Roles, token kinds and the coordinator's JWTs (issue 13 §2), without I/O.

A token is an EdDSA (Ed25519) JWT with the claims ``sub`` (a user's name, or a worker's or
manager's id), ``kind`` (``user`` | ``worker`` | ``manager``), ``sig`` (the holder's signature
version when it was issued: a password change draws a new one, revoking older tokens), ``iat``
and ``exp``. :func:`check_claims` decides from decoded claims alone; the database part (does the
holder still exist, does ``sig`` still match) is :mod:`shipyard.coordinator.auth`'s.
"""

from __future__ import annotations

import enum
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from shipyard.coordinator.httperrors import Forbidden, Unauthorized
from shipyard.errors import BadRequest


class Role(enum.IntEnum):
    """A member's role in a group; each includes the ones below it."""

    READ = 0
    WRITE = 1
    ADMIN = 2

    @property
    def label(self) -> str:
        return self.name.capitalize()

    @classmethod
    def parse(cls, text: str) -> Role:
        for role in cls:
            if text.strip().lower() == role.name.lower():
                return role
        choices = ", ".join(role.label for role in cls)
        raise BadRequest(f"unknown role {text[:40]!r}", hint=f"one of {choices}")


def role_allows(held: Role | None, needed: Role) -> bool:
    """Whether a member holding ``held`` (None: not a member) may do what needs ``needed``."""
    return held is not None and held >= needed


class Kind(enum.StrEnum):
    USER = "user"
    WORKER = "worker"
    MANAGER = "manager"


ALGORITHM: Final = "EdDSA"
#: Signature versions are random, not counters: a deleted and re-created user never matches
#: a token of the old one.
SIGNATURE_BITS: Final = 62


def new_signature() -> int:
    return secrets.randbits(SIGNATURE_BITS)


@dataclass(frozen=True)
class Claims:
    subject: str
    kind: Kind
    signature: int
    expires: int


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def name_problem(what: str, name: str) -> str | None:
    """What is wrong with a user's or group's name, or None (names appear in URLs and logs)."""
    if _NAME.fullmatch(name):
        return None
    shown = name if len(name) <= 40 else name[:40] + "…"
    return (
        f"{what} name {shown!r} is not allowed: 1 to 64 letters, digits, '.', '_' or '-', "
        "starting with a letter or a digit"
    )


def make_claims(
    subject: str, kind: Kind, signature: int, now: int, lifetime: int
) -> dict[str, object]:
    return {"sub": subject, "kind": kind.value, "sig": signature, "iat": now, "exp": now + lifetime}


def _kind_of(raw: object) -> Kind:
    try:
        return Kind(str(raw))
    except ValueError:
        raise Unauthorized("the token names no known kind of holder") from None


def check_claims(raw: Mapping[str, object], expected: Kind, now: float) -> Claims:
    """The claims of a token whose signature checked out, if it may call a route that takes
    ``expected`` holders at ``now``; else :class:`Unauthorized` (401: malformed or
    expired) or :class:`Forbidden` (403: a token of another kind)."""
    subject, signature, expires = raw.get("sub"), raw.get("sig"), raw.get("exp")
    if not isinstance(subject, str) or not subject:
        raise Unauthorized("the token has no subject")
    if isinstance(signature, bool) or not isinstance(signature, int):
        raise Unauthorized("the token has no signature version")
    if isinstance(expires, bool) or not isinstance(expires, int):
        raise Unauthorized("the token has no expiry")
    kind = _kind_of(raw.get("kind"))
    if expires <= now:
        raise Unauthorized("the token has expired", hint=_renew_hint(kind))
    if kind is not expected:
        raise Forbidden(f"this route takes a {expected.value} token, not a {kind.value} token")
    return Claims(subject, kind, signature, expires)


def _renew_hint(kind: Kind) -> str:
    if kind is Kind.USER:
        return "log in again (POST /login)"
    return f"ask a member of the group for a new {kind.value} token"


def generate_key_pair() -> tuple[str, str]:
    """A new Ed25519 key pair as (private, public) PEM text."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem
