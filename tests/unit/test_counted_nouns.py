"""A count's noun agrees with its number: "1 run", "2 runs", never "1 runs" or "1 run(s)"
(issue 11 §21). Each row is a pure formatting function given a count of 1 and of 2."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console

from shipyard.analysis import DurationStats, PipelineHistory
from shipyard.cli import render
from shipyard.cli.analysis_render import history_view
from shipyard.cli.mlrender import metrics_text, models_text, version_line
from shipyard.cli.tasks_cli import result_text, submitted_text, task_text
from shipyard.mlregistry import ModelInfo, ModelVersion, Stage
from shipyard.pipelinemetrics import PipelineMetrics
from shipyard.plan.build import build_plan
from shipyard.recovery import RebuildReport
from shipyard.spec.loader import load_spec_text

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def metrics(count: int) -> str:
    stats = DurationStats(count, 1.0, 1.0, 1.0)
    report = PipelineMetrics(
        name="p",
        basis="executions of the spec named 'p'",
        since=None,
        window_seconds=60.0,
        runs=count,
        finished=count,
        succeeded=count,
        failed=0,
        durations=stats,
        steps={"a": stats},
    )
    return metrics_text(report)


def version(files: int) -> ModelVersion:
    return ModelVersion(
        model="m",
        version=1,
        digest="0" * 64,
        kind="folder",
        size=10,
        files=files,
        stage=Stage.STAGING,
        registered_at=WHEN,
        registered_by="ada",
        source_path="/m",
    )


def models(count: int) -> str:
    versions = [version(1) for _ in range(count)]
    return models_text([ModelInfo("m", WHEN, None, count, versions=versions)])


def history(count: int) -> str:
    view = history_view(PipelineHistory(name="p", durations=DurationStats(count, 1.0, 1.0, 1.0)))
    console = Console(width=200, record=True, force_terminal=False)
    console.print(view)
    return console.export_text()


def ranks(nprocs: int) -> str:
    text = f"name: m\nsteps:\n  a:\n    run: [true]\n    mpi: {{nprocs: {nprocs}}}\n"
    (step,) = build_plan(load_spec_text(text, Path("/s/m.yaml"))).steps
    return render.step_runs_on(step) + "\n"  # a line: "1 rank" is not in it as part of "1 ranks"


def result(attempts: int) -> str:
    found = {"uuid": "u", "state": "failed", "exit_status": 1, "attempts": [{}] * attempts}
    return result_text(found)


def task(attempts: int) -> str:
    return task_text({"uuid": "u", "state": "queued", "exit_status": None,
                      "attempts": attempts, "command": ["true"]})  # fmt: skip


def submitted(count: int) -> str:
    accepted = [{"uuid": f"u{i}", "existing": True} for i in range(count)]
    return submitted_text({"accepted": accepted, "refused": []}, "k")[1]


def rebuilt(count: int) -> str:
    names = [f"e{i}" for i in range(count)]
    return RebuildReport("/h/state.db", "was missing", None, names, count, models=names).text()


@pytest.mark.parametrize(
    ("shown", "count", "wanted"),
    [
        (metrics, 1, "p   1 run (executions"),
        (metrics, 2, "p   2 runs (executions"),
        (metrics, 1, "duration of 1 successful run: p50"),
        (metrics, 2, "duration of 2 successful runs: p50"),
        (metrics, 1, "  a     1 run   p50"),
        (metrics, 2, "  a     2 runs  p50"),
        (lambda n: version_line(version(n)), 1, " (1 file) "),
        (lambda n: version_line(version(n)), 2, " (2 files) "),
        (models, 1, "m   1 version, latest v1"),
        (models, 2, "m   2 versions, latest v2"),
        (history, 1, "duration of 1 successful run: p50"),
        (history, 2, "duration of 2 successful runs: p50"),
        (ranks, 1, "mpirun, 1 rank\n"),
        (ranks, 2, "mpirun, 2 ranks\n"),
        (result, 1, "u  failed, exit 1, 1 attempt\n"),
        (result, 2, "u  failed, exit 1, 2 attempts\n"),
        (task, 1, "u  queued, 1 attempt\n"),
        (task, 2, "u  queued, 2 attempts\n"),
        (submitted, 1, "1 of 1 task already submitted"),
        (submitted, 2, "2 of 2 tasks already submitted"),
        (rebuilt, 1, "rebuilt 1 execution from the run folders"),
        (rebuilt, 2, "rebuilt 2 executions from the run folders"),
        (rebuilt, 1, "model registry: 1 model with"),
        (rebuilt, 2, "model registry: 2 models with"),
    ],
)
def test_a_count_and_its_noun_agree(shown: Callable[[int], str], count: int, wanted: str) -> None:
    said = shown(count)
    assert wanted in said, said
    assert "(s)" not in said, said
