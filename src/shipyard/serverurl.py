"""Checking a URL a user typed — ``--server``, ``--db`` — before any client is built from it.

urllib, httpx and SQLAlchemy each raise a bare ``ValueError`` on a URL they cannot parse
(``http://[::1``, a port of letters): without this check that reached the user as a traceback,
and a port past 65535 as "connection refused", which sends them looking for a dead server.
Pure (no I/O), and light: every command line that names a server imports it.
"""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit

from shipyard.errors import BadRequest

__all__ = ["check_server_url", "database_url_problem", "server_url_problem"]


def _parsed(url: str) -> tuple[SplitResult | None, str | None]:
    """The URL's parts, or why it does not parse (``.port`` is where a bad port is found)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (read for its ValueError)
    except ValueError as error:
        return None, f"does not parse: {error}"
    return parts, None


def server_url_problem(url: str) -> str | None:
    """Why ``url`` is no Shipyard server's URL; None when it is one."""
    if url != url.strip() or any(character.isspace() for character in url):
        return "has a space in it"
    parts, problem = _parsed(url)
    if parts is None:
        return problem
    if parts.scheme not in ("http", "https"):
        return "is not http:// or https://"
    if not parts.hostname:
        return "names no host"
    if parts.query or parts.fragment:
        # Every route is appended to the URL: a query would end up in the middle of them.
        return "has a query or a fragment; give only http://host:port"
    return None


def check_server_url(url: str) -> str:
    """``url``, if it is a server's URL; else a ``BadRequest`` saying what is wrong with it."""
    problem = server_url_problem(url)
    if problem is not None:
        raise BadRequest(
            f"{url[:200]!r} is not a server URL: it {problem}",
            hint="e.g. --server http://127.0.0.1:8420 (or $SHIPYARD_SERVER)",
        )
    return url


def database_url_problem(url: str) -> str | None:
    """Why a ``postgresql://`` URL cannot be read (its host or port); None when it can."""
    _, problem = _parsed(url)
    return problem
