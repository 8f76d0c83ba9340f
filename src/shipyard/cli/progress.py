"""Live progress of a foreground run, fed by the engine's events.

On a terminal: a progress bar and one line per running unit, redrawn a few times a second by
Rich in its own thread (the engine only updates a dict). Elsewhere (pipes, CI logs): one plain line
per finished unit, so logs stay readable. In debug mode every engine event is printed as JSON.
"""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from shipyard.cli.render import STATE_STYLE
from shipyard.models import Event
from shipyard.spec.quantities import format_duration

if TYPE_CHECKING:
    from rich.live import Live
    from rich.progress import Progress

    from shipyard.api import LogLine

_DONE_ACTIONS = {"unit_finished", "unit_skipped", "unit_retry_cancelled"}


class RunDisplay:
    def __init__(self, console: Console, *, debug: bool = False, quiet: bool = False) -> None:
        self.console = console
        self.debug = debug
        self.quiet = quiet
        self.live_mode = console.is_terminal and not quiet and not debug
        self._running: dict[str, tuple[float, int]] = {}
        self._hooks = HookLines()
        self._total: int | None = None
        self._done = 0
        self._failed = 0
        self._progress: Progress | None = None
        self._live: Live | None = None

    def __enter__(self) -> RunDisplay:
        if self.live_mode:
            # Rich's live machinery is imported only for a terminal: pipes and -q stay fast.
            from rich.live import Live
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[failed]}"),
                TimeElapsedColumn(),
                console=self.console,
            )
            self._task = self._progress.add_task("running", total=None, failed="")
            self._live = Live(self._render(), console=self.console, refresh_per_second=8)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(self._render(final=True))
            self._live.__exit__(None, None, None)

    def __call__(self, event: Event) -> None:
        """The engine's observer: called on the loop thread for every event; must be cheap."""
        if self.debug:
            # One JSON line per event (docs/cli.md), never wrapped: scripts read it line by line.
            self.console.out(json.dumps(_event_json(event)), highlight=False)
        action = event.action
        if action == "execution_started":
            self._total = int(str(event.data["total"]))
        elif action == "unit_started" and event.unit:
            self._running[event.unit] = (event.ts, int(str(event.data.get("attempt", 1))))
        elif action in _DONE_ACTIONS and event.unit:
            self._unit_done(event)
        elif action in ("metrics_skipped", "metrics_cut") and not self.quiet and not self.debug:
            self.console.print(metrics_note(event), style="yellow")
        elif action == "alert" and not self.quiet and not self.debug:
            # A step past its memory limit or its usual time, as the engine saw it (issue 12 §4).
            data = event.data
            self.console.print(
                f"! alert: {event.unit} (attempt {data.get('attempt')}, {data.get('kind')}): "
                f"{data.get('message')}",
                style="bold yellow",
            )
        elif action in ("hook_started", "hook_finished"):
            self._hook(event)
        elif action == "unit_retrying" and not self.live_mode and not self.quiet and event.unit:
            delay = format_duration(float(str(event.data.get("delay", 0))))
            self.console.print(f"↻ {event.unit}: retry {event.data.get('attempt')} in {delay}")
        if self._live is not None and self._progress is not None:
            failed = f"[red]{self._failed} failed" if self._failed else ""
            self._progress.update(
                self._task, total=self._total, completed=self._done, failed=failed
            )
            self._live.update(self._render())

    def _unit_done(self, event: Event) -> None:
        assert event.unit is not None
        self._running.pop(event.unit, None)
        state = str(event.data.get("state", "skipped"))
        final = not self._will_retry(event)
        if event.action == "unit_finished" and state == "failed" and final:
            self._failed += 1
        if final:
            self._done += 1
        if not self.live_mode and not self.quiet and not self.debug:
            self._plain_line(event)

    @staticmethod
    def _will_retry(event: Event) -> bool:
        # A failed attempt that will be retried is followed by unit_retrying; the attempt number
        # tells the display nothing here, so the executor marks final failures in `state`.
        return bool(event.data.get("retrying"))

    def _hook(self, event: Event) -> None:
        """A hook command starting or ending, as it happens: hooks are units of their run
        (``_prepare``, ``_cleanup``) but count in no progress, so each gets its own lines — on
        a terminal a running row, then its end printed above the bar."""
        unit, line = self._hooks.line(event)
        if event.action == "hook_started":
            if self.live_mode:
                self._running[unit] = (event.ts, 1)
            elif not self.quiet and not self.debug:
                self.console.print(line)
            return
        self._running.pop(unit, None)
        if not self.quiet and not self.debug:
            self.console.print(line)

    def _plain_line(self, event: Event) -> None:
        state = str(event.data.get("state", "skipped"))
        style = STATE_STYLE.get(state, "")
        detail = ""
        if "duration" in event.data:
            detail = f" in {format_duration(float(str(event.data['duration'])))}"
        reason = event.data.get("reason")
        if reason:
            detail += f" — {reason}"
        self.console.print(
            Text.assemble((f"{state:>9} ", style), (event.unit or "", "bold"), detail)
        )

    def _render(self, *, final: bool = False) -> RenderableType:
        assert self._progress is not None
        if final or not self._running:
            return self._progress
        now = time.time()
        table = Table.grid(padding=(0, 2))
        for name, (started, attempt) in list(self._running.items())[:12]:
            note = f"attempt {attempt}" if attempt > 1 else ""
            table.add_row(Text("▶ " + name, style="cyan"), format_duration(now - started), note)
        if len(self._running) > 12:
            table.add_row(Text(f"… and {len(self._running) - 12} more", style="dim"), "", "")
        return Group(table, self._progress)


class HookLines:
    """The line of each hook command as it starts and as it ends — the run's display and the
    fleet's both print them: hooks are units of their run (``_prepare``, ``_cleanup``)."""

    def __init__(self) -> None:
        #: The command running in each phase: when it started, and what it is.
        self._started: dict[str, tuple[float, str]] = {}

    def line(self, event: Event) -> tuple[str, Text]:
        """The hook's unit and the line for a ``hook_started`` or ``hook_finished`` event."""
        phase = str(event.data.get("phase", ""))
        unit = f"_{phase}"
        if event.action == "hook_started":
            command = str(event.data.get("command", ""))
            self._started[phase] = (event.ts, command)
            return unit, hook_line(unit, command, None, None)
        started, command = self._started.pop(phase, (event.ts, ""))
        return unit, hook_line(unit, command, event, event.ts - started)


def hook_line(unit: str, command: str, finished: Event | None, seconds: float | None) -> Text:
    """One hook command's line, as a step's: ``  running _prepare `make data` `` when it
    starts, then ``succeeded _prepare `make data` in 2ms`` or ``   failed _prepare `exit 3` in
    27ms — exited with code 3`` (``finished``: its ``hook_finished`` event)."""
    shown = f" `{command}`" if command else ""
    if finished is None:
        return Text.assemble((f"{'running':>9} ", STATE_STYLE["running"]), (unit, "bold"), shown)
    ok = bool(finished.data.get("ok"))
    state = "succeeded" if ok else "failed"
    detail = f" in {format_duration(max(seconds or 0.0, 0.0))}"
    if not ok:
        code, reason = finished.data.get("exit_code"), finished.data.get("reason")
        if not isinstance(code, int):  # it never ran (as hookview words it in status)
            how = f"could not start: {reason}" if reason else "failed"
        else:
            how = str(reason or f"exited with code {code}")
        detail += f" — {how}"
    return Text.assemble(
        (f"{state:>9} ", STATE_STYLE.get(state, "")), (unit, "bold"), shown, detail
    )


def metrics_note(event: Event) -> str:
    """The line a ``metrics_skipped`` or ``metrics_cut`` event prints: what of a step's
    ``$SHIPYARD_METRICS`` file was passed over, and where."""
    data = event.data
    who = f"{event.unit} (attempt {data.get('attempt')})"
    if event.action == "metrics_cut":
        return f"! {who}: metrics file not read to its end: {data.get('reason')}"
    lines = int(str(data.get("lines", 1)))
    more = f" ({lines} such lines)" if lines > 1 else ""
    return (
        f"! {who}: metrics line {data.get('line')} passed over: {data.get('reason')}{more}"
        f" — {data.get('path')}"
    )


def _event_json(event: Event) -> dict[str, Any]:
    record: dict[str, Any] = {"ts": round(event.ts, 4), "action": event.action}
    if event.unit is not None:
        record["unit"] = event.unit
    record.update(event.data)
    return record


_FLEET_EVENTS = {
    "service_started": "started",
    "service_healthy": "healthy",
    "service_unhealthy": "unhealthy",
    "probe_failed": "probe",  # what a failing probe saw, each time that changes
    "service_exited": "exited",
    "service_restarting": "restarting",
    "service_failed": "failed",
    "service_stopped": "stopped",
    "fleet_up": "up",
    "fleet_failed": "failed",
    "unit_started": "started",
    "unit_skipped": "skipped",
    "steps_finished": "steps done",
}

#: What each event says about a unit's state on the board (None: unchanged).
_BOARD_STATE = {
    "service_started": "running",
    "service_exited": "exited",
    "service_restarting": "restarting",
    "service_failed": "failed",
    "service_stopped": "stopped",
    "unit_started": "running",
    "unit_skipped": "skipped",
}

#: What each event says about a service's health (as :func:`shipyard.unitview.shown_health`:
#: a verdict only while it runs, ``down`` once stopped, ``unknown`` otherwise).
_BOARD_HEALTH = {
    "service_started": "starting",
    "service_healthy": "healthy",
    "service_unhealthy": "unhealthy",
    "service_exited": "unknown",
    "service_failed": "unknown",
    "service_stopped": "down",
}


class FleetDisplay:
    """`up` in the foreground: one line per service (and step) event and, like `docker compose
    up`, the services' output interleaved as it is written (``name | line``), until Ctrl-C. On a
    terminal a live board below them shows each unit's state, health, pid, port and restarts.

    Fed by two followers of the operations API (:mod:`shipyard.cli.follow`): events through
    the call, log lines through :meth:`line`, from two threads (hence the lock)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._lock = threading.Lock()
        self._units: dict[str, dict[str, Any]] = {}
        self._hooks = HookLines()
        self._live: Live | None = None

    def __enter__(self) -> FleetDisplay:
        self.console.print("bringing the fleet up; Ctrl-C brings it down", style="dim")
        if self.console.is_terminal:
            from rich.live import Live

            self._live = Live(
                self.board(), console=self.console, refresh_per_second=4, transient=True
            )
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()

    def board(self) -> Table:
        """Every unit seen so far, as the events left it."""
        table = Table(box=None, pad_edge=False, show_edge=False)
        for column in ("unit", "state", "health", "pid", "port", "restarts"):
            table.add_column(column, justify="right" if column in ("pid", "port") else "left")
        for name, unit in self._units.items():
            state, health = unit.get("state", "pending"), unit.get("health", "")
            table.add_row(
                Text(name, style="bold"),
                Text(state, style=STATE_STYLE.get(state, "")),
                Text(health, style=STATE_STYLE.get(health, "")),
                str(unit.get("pid") or "—"),
                str(unit.get("port") or "—"),
                str(unit.get("restarts", "")),
            )
        return table

    def _note(self, event: Event) -> None:
        if event.unit is None:
            return
        unit = self._units.setdefault(event.unit, {})
        state = _BOARD_STATE.get(event.action)
        if event.action == "unit_finished":
            state = str(event.data.get("state"))
        if state is not None:
            unit["state"] = state
        for key in ("pid", "port", "restarts"):
            if event.data.get(key) is not None:
                unit[key] = event.data[key]
        health = _BOARD_HEALTH.get(event.action)
        if health is not None:
            unit["health"] = health
        if event.action in ("service_exited", "service_failed"):
            unit.pop("pid", None)  # its process is gone (as unitview.shown_pid says)

    def line(self, line: LogLine) -> None:
        """One line a unit wrote, as ``unit | text``."""
        with self._lock:
            self.console.print(Text.assemble((f"{line.unit} | ", "cyan"), line.text), markup=False)

    def __call__(self, event: Event) -> None:
        if event.action in ("hook_started", "hook_finished"):
            _, line = self._hooks.line(event)  # its lines, as `run` shows them; not on the board
            with self._lock:
                self.console.print(line)
            return
        self._note(event)
        if self._live is not None:
            self._live.update(self.board())
        word = _FLEET_EVENTS.get(event.action)
        if event.action == "unit_finished":
            word = str(event.data.get("state"))
        if word is None:
            return
        detail = ", ".join(
            f"{key} {value}" for key, value in event.data.items() if value not in (None, "")
        )
        style = STATE_STYLE.get(word, "")
        subject = event.unit or "fleet"
        with self._lock:
            self.console.print(
                Text.assemble((f"{word:>10} ", style), (subject, "bold"), f"  {detail}")
            )
