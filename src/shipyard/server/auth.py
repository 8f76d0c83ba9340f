"""The local server's bearer token: made once, kept in a 0600 file under the home, compared
in constant time on every request but ``/health`` and ``/metrics``."""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

__all__ = ["TOKEN_FILE", "read_token", "token_checker", "token_for"]

#: Under the served home: the token the CLI on this machine reads to reach the server.
TOKEN_FILE = "server.token"  # noqa: S105  (a file name, not a secret)


def token_for(home: Path) -> Path:
    """The token file of ``home``, made (random, 0600) if missing; its path."""
    path = home / TOKEN_FILE
    home.mkdir(mode=0o700, parents=True, exist_ok=True)  # owner-only, as secure_home has it
    try:
        # O_EXCL: two servers starting at once never overwrite each other's token; 0o600 from
        # the start, so the secret is never readable by others even for an instant.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(secrets.token_urlsafe(32) + "\n")
    return path


def read_token(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


class Unauthorized(Exception):
    """Raised by the check; the app answers 401 with a JSON message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def token_checker(token: str) -> Callable[..., Any]:
    """A FastAPI dependency that lets a request through only with ``Bearer <token>``."""
    from fastapi import Depends
    from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

    bearer = HTTPBearer(auto_error=False, description="The server's token (docs/server.md)")
    expected = token.encode()

    def check(credentials: HTTPAuthorizationCredentials | None) -> None:
        if credentials is None:
            raise Unauthorized("missing bearer token: send Authorization: Bearer <token>")
        if not hmac.compare_digest(credentials.credentials.encode(), expected):
            raise Unauthorized("wrong bearer token")

    # The annotations as objects: FastAPI resolves string ones in this module's globals, where
    # the (lazily imported) FastAPI names are not.
    check.__annotations__ = {
        "credentials": Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
        "return": None,
    }
    return check
