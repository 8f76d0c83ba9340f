"""The manager's token refresh decision and its token helpers (shipyard.manager.tokenrefresh)."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest

from shipyard.manager.tokenrefresh import refresh_due, token_times, write_token_file

DAY = 24 * 3600.0


@pytest.mark.parametrize(
    ("expires_at", "now", "margin", "due"),
    [
        (None, 1000.0, DAY, False),  # not a JWT: nothing to refresh
        (1000.0 + 30 * DAY, 1000.0, DAY, False),  # a fresh 30-day token
        (1000.0 + DAY + 1, 1000.0, DAY, False),  # just outside the margin
        (1000.0 + DAY, 1000.0, DAY, True),  # exactly at the margin
        (1000.0 + 3600, 1000.0, DAY, True),  # within it
        (990.0, 1000.0, DAY, True),  # already expired: asked, the 401 says why
        (1060.0, 1000.0, 30.0, False),  # a test's 60-s token, 30-s margin, at its start
        (1060.0, 1031.0, 30.0, True),  # … past its middle
    ],
)
def test_refresh_due(expires_at: float | None, now: float, margin: float, due: bool) -> None:
    assert refresh_due(expires_at, now, margin) is due


def _jwt(claims: dict[str, object]) -> str:
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJFZERTQSJ9.{body}.c2ln"


@pytest.mark.parametrize(
    ("token", "times"),
    [
        (_jwt({"iat": 100, "exp": 160, "sub": "x"}), (100, 160)),
        (_jwt({"exp": 160}), None),
        (_jwt({"iat": "100", "exp": 160}), None),
        ("not-a-token", None),
        ("a.!!!.c", None),
    ],
)
def test_token_times(token: str, times: tuple[int, int] | None) -> None:
    assert token_times(token) == times


def test_write_token_file_replaces_it_with_mode_0600(tmp_path: Path) -> None:
    target = tmp_path / "token"
    target.write_text("old\n")
    target.chmod(0o644)
    write_token_file(target, "new")
    assert target.read_text() == "new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["token"]  # no temporary file left
