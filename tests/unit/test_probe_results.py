"""What a health probe saw, in words (engine/health.py) and as ps/status show it (issue 11
item 13: "not healthy within 4s" was all a wrong agent card ever said)."""

from __future__ import annotations

import pytest

from shipyard.cli.render import probe_text, unit_note
from shipyard.engine.health import ProbeResult, card_mismatch, connection_trouble, http_verdict
from shipyard.models import UnitState, UnitStatus

URL = "http://127.0.0.1:8101"


@pytest.mark.parametrize(
    ("card", "expected"),
    [
        ({"name": "weather", "url": URL}, None),
        ({"name": "weather", "url": URL + "/"}, None),  # a trailing slash is the same URL
        ({"name": "wrong", "url": URL}, "names 'wrong', not 'weather'"),
        ({"url": URL}, "names nothing, not 'weather'"),
        ({"name": "weather", "url": "http://x:1"}, f"gives the url 'http://x:1', not '{URL}'"),
        ({"name": "weather"}, f"gives the url nothing, not '{URL}'"),
        (["a list"], "is not a JSON object"),
        ({"name": "n" * 100, "url": URL}, f"names '{'n' * 60}…', not 'weather'"),
    ],
)
def test_card_mismatch(card: object, expected: str | None) -> None:
    assert card_mismatch(card, "weather", URL) == expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, ProbeResult(True, "HTTP 200 from /health")),
        (302, ProbeResult(True, "HTTP 302 from /health")),
        (404, ProbeResult(False, "HTTP 404 from /health (2xx or 3xx wanted)")),
        (503, ProbeResult(False, "HTTP 503 from /health (2xx or 3xx wanted)")),
    ],
)
def test_http_verdict(status: int, expected: ProbeResult) -> None:
    assert http_verdict(status, "/health") == expected


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            ConnectionRefusedError(111, "Connection refused"),
            "connection refused by 127.0.0.1:80 (nothing listens there)",
        ),
        (
            ConnectionResetError(104, "Connection reset by peer"),
            "connection reset by peer (127.0.0.1:80)",
        ),
        (OSError("not an HTTP answer"), "not an HTTP answer (127.0.0.1:80)"),
    ],
)
def test_connection_trouble(error: OSError, expected: str) -> None:
    assert connection_trouble(error, "127.0.0.1", 80) == expected


def service(reason: str | None, probe: str | None, ok: bool | None) -> UnitStatus:
    return UnitStatus("web", UnitState.RUNNING, "service", reason=reason, probe=probe, probe_ok=ok)


@pytest.mark.parametrize(
    ("unit", "note", "shown"),
    [
        (service(None, None, None), "", "—"),  # never probed
        (service(None, "HTTP 200 from /", True), "", "ok"),
        (service(None, "HTTP 503 from /", False), "last probe: HTTP 503 from /", "HTTP 503 from /"),
        (
            service("restarting in 1s", "HTTP 503 from /", False),
            "restarting in 1s; last probe: HTTP 503 from /",
            "HTTP 503 from /",
        ),
        # a reason that says it already is not repeated
        (
            service("not healthy; last probe: HTTP 503 from /", "HTTP 503 from /", False),
            "not healthy; last probe: HTTP 503 from /",
            "HTTP 503 from /",
        ),
    ],
)
def test_what_ps_and_status_show(unit: UnitStatus, note: str, shown: str) -> None:
    assert unit_note(unit) == note
    assert probe_text(unit) == shown
