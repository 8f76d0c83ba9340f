"""Parameter sweeps (issue 12 §2): their operations, mixed into LocalOperations.

A sweep is a row in the store with one row per point; every point runs as an execution of its
own (its id, run folder and records), handed to a supervisor process as ``run -d`` does. The
loop that starts points, waits for them and decides what comes next is
:mod:`shipyard.sweeprun`; the decisions themselves (matrix, hash, threshold, statistics) are
pure, in :mod:`shipyard.plan.sweepmatrix`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import ShipyardError

if TYPE_CHECKING:
    from shipyard.operations.specsource import SpecSource
    from shipyard.plan.sweepmatrix import PlannedPoint
    from shipyard.spec.models import Spec
    from shipyard.sweep import SweepReport, SweepSettings
    from shipyard.sweeprun import SweepHost

#: A sweep process whose heartbeat is older than this is gone even if its pid is taken again
#: (it beats every second or so; starting a point may hold it up to ~15 s).
SWEEP_HEARTBEAT_TIMEOUT = 60.0
#: How long ``sweep_stop`` waits for a live sweep process to stop its points and end.
STOP_WAIT = 60.0


def settings_to_json(settings: SweepSettings) -> dict[str, Any]:
    return dataclasses.asdict(settings)


def settings_of_spec(spec: Spec, where: str) -> SweepSettings:
    """The spec's ``sweep:`` block as settings; an error when it has none."""
    from shipyard.sweep import SweepSettings

    block = spec.sweep
    if block is None:
        raise ShipyardError(
            f"{where} has no sweep: block, and no parameters to vary were given",
            hint="give them with -m name=v1,v2 (repeatable), or add a sweep: block (docs/spec.md)",
        )
    return SweepSettings(
        matrix={name: list(values) for name, values in block.matrix.items()},
        zip_groups=[list(group) for group in block.zip],
        repeat=block.repeat,
        max_parallel_runs=block.max_parallel_runs,
        timeout_per_run=block.timeout_per_run,
        failure_threshold=block.failure_threshold,
        objective=block.objective,
        slurm_array=block.slurm_array,
    )


def check_settings(settings: SweepSettings) -> None:
    """The limits the spec's model enforces on a ``sweep:`` block, for settings given in
    code or on the command line."""
    from shipyard.plan.sweepmatrix import parse_objective

    problems = [
        (settings.repeat < 1, f"repeat {settings.repeat} runs nothing", "repeat at least once"),
        (
            settings.max_parallel_runs < 1,
            f"max_parallel_runs {settings.max_parallel_runs} runs nothing",
            "run at least 1 point at a time",
        ),
        (
            settings.timeout_per_run is not None and not settings.timeout_per_run > 0,
            f"timeout_per_run {settings.timeout_per_run} is not a positive duration",
            "give a duration such as 30s or 10m",
        ),
        (
            settings.failure_threshold is not None and not 0.0 <= settings.failure_threshold <= 1.0,
            f"failure_threshold {settings.failure_threshold} is not a share between 0 and 1",
            "0.1 stops starting points once more than 10% of them failed",
        ),
    ]
    for bad, message, hint in problems:
        if bad:
            raise ShipyardError(message, hint=hint)
    if settings.objective is not None:
        parse_objective(settings.objective)


@dataclasses.dataclass(frozen=True, slots=True)
class _Prepared:
    source: SpecSource
    spec: Spec
    text: str
    settings: SweepSettings
    points: list[PlannedPoint]
    fixed: dict[str, Any]
    secrets: dict[str, str]


def _prepare(
    host: SweepHost,
    spec: str | Path,
    settings: SweepSettings | None,
    params: Mapping[str, Any],
    spec_text: str | None,
) -> _Prepared:
    """Everything checked before anything is recorded: the spec, the settings, the matrix
    against the spec's parameters; the points to run."""
    from shipyard.operations.specsource import resolve
    from shipyard.plan import sweepmatrix
    from shipyard.spec.loader import load_spec_text
    from shipyard.spec.reading import read_spec_text

    source = resolve(host, spec, spec_text)
    path = Path(source.spec)
    text = source.spec_text if source.spec_text is not None else read_spec_text(path)
    loaded = load_spec_text(text, path.resolve() if source.spec_text is None else path)
    settings = settings or settings_of_spec(loaded.spec, str(spec))
    check_settings(settings)
    declared = loaded.spec.parameters
    matrix = sweepmatrix.check_matrix(settings.matrix, declared)
    secret = {name for name, parameter in declared.items() if parameter.secret}
    for name in matrix:
        if name in secret:
            raise ShipyardError(
                f"parameter '{name}' is secret: it cannot be swept",
                hint="a sweep records each point's parameters; give a secret once with -p",
            )
    defaults = {k: v for k, v in source.defaults.items() if k not in matrix and k not in params}
    fixed = sweepmatrix.check_fixed({**defaults, **params}, declared, list(matrix))
    secrets = {name: str(fixed.pop(name)) for name in list(fixed) if name in secret}
    combos = sweepmatrix.expand(matrix, settings.zip_groups)
    settings = dataclasses.replace(settings, matrix=matrix)
    points = sweepmatrix.plan_points(combos, fixed, settings.repeat)
    if settings.slurm_array:
        from shipyard.slurmarray.jobs import check_array

        check_array(loaded.spec, loaded.source, settings)
    return _Prepared(source, loaded.spec, text, settings, points, fixed, secrets)


def _kept(host: SweepHost, resume: str | None) -> dict[tuple[str, int], dict[str, Any]]:
    """The succeeded points of sweep ``resume`` by (parameter hash, repeat)."""
    if resume is None:
        return {}
    _row(host, resume)  # a clear error when there is no such sweep
    return {
        (row["point_hash"], row["repeat"]): row
        for row in host.store.sweep_point_rows(resume)
        if row["state"] == "succeeded"
    }


def _point_rows(
    prepared: _Prepared, kept: Mapping[tuple[str, int], Mapping[str, Any]], resume: str | None
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for point in prepared.points:
        row: dict[str, Any] = {
            "point_hash": point.point_hash,
            "repeat": point.repeat,
            "position": point.position,
            "parameters": point.parameters,
            "state": "pending",
        }
        earlier = kept.get((point.point_hash, point.repeat))
        if earlier is not None:
            row.update(
                state="succeeded",
                execution_id=earlier["execution_id"],
                duration=earlier["duration"],
                metrics=earlier["metrics"],
                reason=f"kept from {resume}",
            )
        rows.append(row)
    return rows


def new_sweep_id(name: str, now: float) -> str:
    """``sweep_<name>_<yyyymmdd_hhmmss>_<4 hex>``, as execution ids are made."""
    import re
    import secrets
    from datetime import UTC, datetime

    safe = re.sub(r"[^A-Za-z0-9_-]", "-", name)
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%d_%H%M%S")
    return f"sweep_{safe}_{stamp}_{secrets.token_hex(2)}"


def _row(host: SweepHost, sweep_id: str | None) -> dict[str, Any]:
    # A folder without state has no sweep, and asking creates no state there (issue 11 §19).
    stored = host._has_state()  # a store handed in counts, as for the other reads
    if sweep_id is None:
        latest = host.store.sweep_ids(limit=1) if stored else []
        if not latest:
            raise ShipyardError(
                "there is no sweep yet", hint="start one with: shipyard sweep SPEC -m name=v1,v2"
            )
        sweep_id = latest[0]
    row = host.store.sweep_row(sweep_id) if stored else None
    if row is None:
        known = host.store.sweep_ids(limit=5) if stored else []
        raise ShipyardError(
            f"there is no sweep '{sweep_id}'",
            hint=f"the latest: {', '.join(known)} (shipyard sweep list)"
            if known
            else "no sweep was run here yet",
        )
    return row


def _alive(row: Mapping[str, Any], now: float) -> bool:
    """The sweep's process is there and beating."""
    from shipyard.engine.liveness import pid_alive

    pid, beat = row["supervisor_pid"], row["heartbeat_at"]
    if pid is None or beat is None:
        return True  # not started yet: the starter waits for it, or says it failed
    return pid_alive(pid) and now - beat < SWEEP_HEARTBEAT_TIMEOUT


def _settle_lost(host: SweepHost, row: dict[str, Any]) -> None:
    """A running sweep whose process is gone ends as lost; its points that had started are
    followed to their own end (they run on, each in its supervisor)."""
    from shipyard.sweeppoints import record_end

    now = host.clock.now()
    if row["state"] in ("pending", "running") and not _alive(row, now):
        host.store.end_sweep(
            row["id"],
            "lost",
            reason=f"its process (pid {row['supervisor_pid']}) is gone; "
            f"shipyard sweep SPEC --resume {row['id']} runs what did not succeed",
            at=now,
        )
        row.update(host.store.sweep_row(row["id"]) or {})
    if row["state"] in ("pending", "running"):
        return
    for point in host.store.sweep_point_rows(row["id"]):
        # A pending point with an execution is an array task still queued: it may run yet.
        if point["state"] in ("running", "pending") and point["execution_id"]:
            status = host.status(point["execution_id"])
            if status.state.finished:
                record_end(host, row["id"], point, status, timed_out=False)
        elif point["state"] == "pending":
            host.store.update_sweep_point(
                row["id"],
                point["point_hash"],
                point["repeat"],
                state="cancelled",
                reason=f"never started: the sweep ended {row['state']}",
            )


def report_of(row: Mapping[str, Any], point_rows: list[dict[str, Any]]) -> SweepReport:
    """The record every front end shows, from the store's rows."""
    from shipyard.models import timestamp
    from shipyard.plan import sweepmatrix
    from shipyard.sweep import SweepPoint, SweepReport, settings_from_json

    settings = settings_from_json(row["settings"])
    points = [
        SweepPoint(
            parameters=p["parameters"],
            repeat=p["repeat"],
            point_hash=p["point_hash"],
            state=p["state"],
            execution_id=p["execution_id"],
            duration_seconds=p["duration"],
            metrics=p["metrics"],
            reason=p["reason"],
        )
        for p in point_rows
    ]
    best = sweepmatrix.best_point(points, settings.objective)
    created = timestamp(row["created_at"])
    assert created is not None  # a NOT NULL column
    return SweepReport(
        id=row["id"],
        name=row["name"],
        state=row["state"],
        created_at=created,
        settings=settings,
        points=points,
        stats=sweepmatrix.parameter_stats(points, list(settings.matrix)),
        best=best[0] if best else None,
        ended_at=timestamp(row["ended_at"]),
        reason=row["reason"],
        spec_path=row["spec_path"],
        best_value=best[1] if best else None,
        resumed_from=row["resumed_from"],
    )


class SweepOperations:
    def sweep(
        self: SweepHost,
        spec: str | Path,
        settings: SweepSettings | None = None,
        params: Mapping[str, Any] | None = None,
        *,
        spec_text: str | None = None,
        detach: bool = False,
        resume: str | None = None,
    ) -> SweepReport:
        """Run every point of the sweep and return its report (``detach``: in a process of its
        own; return once it runs). See :class:`shipyard.api.Sweeps`."""
        from shipyard import sweeprun

        prepared = _prepare(self, spec, settings, dict(params or {}), spec_text)
        rows = _point_rows(prepared, _kept(self, resume), resume)
        now = self.clock.now()
        sweep_id = new_sweep_id(prepared.spec.name, now)
        source = prepared.source
        self.store.insert_sweep(
            {
                "id": sweep_id,
                "name": prepared.spec.name,
                # Points run the spec as given: a file by its path (read again at each point),
                # a registered name through the registry, a template's file with its text.
                "spec_path": str(Path(source.spec).resolve()),
                "spec_text": prepared.text,
                "settings": settings_to_json(prepared.settings),
                "parameters": prepared.fixed,
                "pipeline": source.pipeline,
                "state": "pending",
                "created_at": now,
                "resumed_from": resume,
            },
            rows,
        )
        if detach:
            sweeprun.start_detached(self, sweep_id, prepared.secrets)
        else:
            self.store.set_sweep_supervisor(sweep_id, _own_pid(), at=now)
            sweeprun.drive_sweep(self, sweep_id, prepared.secrets)
        return SweepOperations.sweep_status(self, sweep_id)

    def sweep_status(self: SweepHost, sweep_id: str | None = None) -> SweepReport:
        row = _row(self, sweep_id)
        _settle_lost(self, row)
        report = report_of(row, self.store.sweep_point_rows(row["id"]))
        if report.settings.slurm_array:  # each point's task of the array: 12_3
            from shipyard.slurmarray.jobs import with_jobs

            report = with_jobs(self.workspace, report)
        return report

    def sweep_list(self: SweepHost, *, limit: int = 50) -> list[SweepReport]:
        if not self.workspace.state_db.exists():
            return []
        return [
            SweepOperations.sweep_status(self, id_) for id_ in self.store.sweep_ids(limit=limit)
        ]

    def sweep_stop(self: SweepHost, sweep_id: str) -> SweepReport:
        """Start no more points and stop the running ones; returns once the sweep ended."""
        from shipyard.sweep import settings_from_json
        from shipyard.sweeppoints import cancel_pending
        from shipyard.sweeprun import stop_points

        row = _row(self, sweep_id)
        _settle_lost(self, row)
        if row["state"] not in ("pending", "running"):
            raise ShipyardError(
                f"sweep {row['id']} already ended ({row['state']})",
                hint=f"nothing to stop; shipyard sweep status {row['id']} shows how it ended",
            )
        self.store.request_sweep_stop(row["id"], at=self.clock.now())
        deadline = time.monotonic() + STOP_WAIT
        while True:
            current = self.store.sweep_row(row["id"]) or row
            if current["state"] not in ("pending", "running"):
                return SweepOperations.sweep_status(self, row["id"])
            if not _alive(current, self.clock.now()):
                break  # nobody to answer the request: stop its points from here
            if time.monotonic() >= deadline:
                if current["supervisor_pid"] is None:
                    break  # its process never started: nobody else will stop it
                # Alive but slow: stopping its points from here too would race it.
                raise ShipyardError(
                    f"sweep {row['id']} is still stopping after {STOP_WAIT:g}s: its process "
                    f"(pid {current['supervisor_pid']}) is alive and stops its points",
                    hint=f"shipyard sweep status {row['id']} shows when it has ended",
                )
            time.sleep(0.05)
        stop_points(self, row["id"])
        if settings_from_json(row["settings"]).slurm_array:
            from shipyard.slurmarray.jobs import cancel_array

            cancel_array(self.workspace, row["id"])
        cancel_pending(self, row["id"], "the sweep was stopped")
        self.store.end_sweep(
            row["id"],
            "cancelled",
            reason="stopped by shipyard sweep stop",
            at=self.clock.now(),
        )
        return SweepOperations.sweep_status(self, row["id"])

    def sweep_plot(self: SweepHost, sweep_id: str, path: str, *, metric: str | None = None) -> str:
        """A PNG of ``metric`` (default: the objective's, else the first reported) against
        each swept parameter: the mean over repeats, with their min and max."""
        from shipyard.sweepplot import plot

        report = SweepOperations.sweep_status(self, sweep_id)
        return plot(report, path, metric)


def _own_pid() -> int:
    import os

    return os.getpid()
