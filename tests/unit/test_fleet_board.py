"""The live board of a foreground `up`: what the events say about each unit, as a table."""

from __future__ import annotations

import io

from rich.console import Console

from shipyard.cli.progress import FleetDisplay
from shipyard.models import Event


def render(display: FleetDisplay) -> list[str]:
    out = io.StringIO()
    Console(file=out, width=100, color_system=None).print(display.board())
    return [" ".join(line.split()) for line in out.getvalue().splitlines()]


def test_the_board_follows_each_unit_through_its_events() -> None:
    display = FleetDisplay(Console(file=io.StringIO(), color_system=None))
    with display:
        feed(display)
    rows = render(display)
    assert rows[0] == "unit state health pid port restarts"
    assert "prep succeeded 11 —" in rows
    assert "web running starting 21 8100 1" in rows  # the second start, not yet healthy again
    assert "db running starting 30 8101 0" in rows


def feed(display: FleetDisplay) -> None:
    for action, unit, data in [
        ("unit_started", "prep", {"pid": 11}),
        ("unit_finished", "prep", {"state": "succeeded"}),
        ("service_started", "web", {"pid": 20, "port": 8100, "restarts": 0}),
        ("service_healthy", "web", {}),
        ("service_exited", "web", {"reason": "killed by signal KILL"}),
        ("service_restarting", "web", {"restarts": 1}),
        ("service_started", "web", {"pid": 21, "port": 8100, "restarts": 1}),
        ("service_started", "db", {"pid": 30, "port": 8101, "restarts": 0}),
    ]:
        display(Event(0.0, "exec_x", action, unit, data))


def test_a_service_that_is_not_running_shows_no_verdict_and_no_pid() -> None:
    display = FleetDisplay(Console(file=io.StringIO(), color_system=None))
    with display:
        for action, unit, data in [
            ("service_started", "web", {"pid": 20, "port": 8100, "restarts": 0}),
            ("service_healthy", "web", {}),
            ("service_exited", "web", {"reason": "exited with code 3"}),
            ("service_failed", "web", {"reason": "1 restarts used up"}),
            ("service_started", "db", {"pid": 30, "port": 8101, "restarts": 0}),
            ("service_healthy", "db", {}),
            ("service_stopped", "db", {}),
        ]:
            display(Event(0.0, "exec_x", action, unit, data))
    rows = render(display)
    assert "web failed unknown — 8100 0" in rows
    assert "db stopped down 30 8101 0" in rows
