"""The HTML report of ``analyze --html``: a PNG timeline embedded, record text escaped."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta

from shipyard.analysis import AnalysisReport, Recommendation, StepTiming
from shipyard.models import Attempt, UnitState
from shipyard.report import gantt_png, render_html

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
HOSTILE = "<script>alert(1)</script>"


def attempt(unit: str, number: int, state: UnitState, start: float, end: float | None) -> Attempt:
    ended = T0 + timedelta(seconds=end) if end is not None else None
    return Attempt(unit, number, state, T0 + timedelta(seconds=start), ended)


ATTEMPTS = [
    attempt("a", 1, UnitState.FAILED, 0.0, 1.0),
    attempt("a", 2, UnitState.SUCCEEDED, 2.0, 3.0),
    attempt(HOSTILE, 1, UnitState.RUNNING, 1.0, None),  # still running: drawn up to now
    Attempt("never", 1, UnitState.SKIPPED, None, None),  # no start: no bar, no crash
]


def test_the_timeline_is_a_png_of_every_attempt() -> None:
    png = gantt_png(ATTEMPTS, now=T0 + timedelta(seconds=5), critical=frozenset({"a"}))
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert gantt_png([], now=T0).startswith(b"\x89PNG")  # nothing ran: an empty chart


def test_the_page_embeds_the_png_and_escapes_what_the_records_say() -> None:
    report = AnalysisReport(
        execution_id="exec_x",
        name=HOSTILE,
        state="failed",
        duration_seconds=3.0,
        critical_path=["a"],
        critical_path_seconds=3.0,
        steps=[StepTiming(HOSTILE, 1.0, attempts=1)],
        failures={HOSTILE: f"exited 1 {HOSTILE}"},
        recommendations=[Recommendation(f"look at {HOSTILE}", "1.0s")],
    )
    page = render_html(report, b"\x89PNG-bytes")
    assert "<script>" not in page
    assert page.count("&lt;script&gt;") == 5  # title, step, failure (twice), recommendation
    found = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert found is not None and base64.b64decode(found.group(1)) == b"\x89PNG-bytes"
