"""A sweep's Slurm job array as Slurm and its folder (``HOME/sweeps/<sweep id>/array/``) know
it: the sweep checked before anything is recorded (:func:`check_array`), the array's files
written and the array submitted (:func:`submit_array`), its job read back and cancelled
(:func:`cancel_array`), and each point's task for ``sweep status`` (:func:`with_jobs`)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.errors import ShipyardError
from shipyard.slurmarray.decisions import (
    ASKED,
    array_argv,
    array_refusal,
    job_ids_of,
    task_script,
)

if TYPE_CHECKING:
    from shipyard.plan.model import SlurmSettings
    from shipyard.spec.models import Spec
    from shipyard.spec.yamlsource import SourceMap
    from shipyard.sweep import SweepReport, SweepSettings
    from shipyard.workspace import Workspace

__all__ = [
    "HOST_FILE",
    "REFUSED",
    "array_folder",
    "cancel_array",
    "check_array",
    "recorded_array",
    "submit_array",
    "task_command",
    "task_jobs",
    "with_jobs",
]

#: In the array's folder: the host that submitted it; ``refused-<i>``: why task i did not run
HOST_FILE = "host"
REFUSED = "refused-{index}"


def array_folder(workspace: Workspace, sweep_id: str) -> Path:
    return workspace.home / "sweeps" / sweep_id / "array"


def task_command(home: Path, folder: Path) -> list[str]:
    """What task i runs: this interpreter's :func:`.taskside.main` for the sweep's folder."""
    return [sys.executable, "-m", "shipyard.slurmarray", str(home), str(folder)]


def submit_array(
    folder: Path,
    executions: Sequence[str],
    *,
    settings: SlurmSettings,
    throttle: int,
    job_name: str,
    command: Sequence[str],
    env: Mapping[str, str] | None = None,
) -> str:
    """Write the array's files in ``folder`` and submit it; its job id (also in
    ``folder/job``). ``command``: what each task runs (it finds its execution in ``tasks``
    by ``SLURM_ARRAY_TASK_ID``)."""
    from shipyard.engine.runners.slurm import INSTALL_HINT, _explain

    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    (folder / "tasks").write_text("".join(f"{e}\n" for e in executions), encoding="utf-8")
    # The host whose SQLite store the tasks may open: this one (node_refusal).
    (folder / HOST_FILE).write_text(socket.gethostname() + "\n", encoding="utf-8")
    script = folder / "array.sh"
    script.write_text(task_script(command), encoding="utf-8")
    script.chmod(0o700)
    argv = array_argv(
        settings,
        count=len(executions),
        throttle=throttle,
        job_name=job_name,
        folder=folder,
        script=script,
    )
    environ = dict(os.environ if env is None else env)
    try:
        done = subprocess.run(
            argv, env=environ, capture_output=True, text=True, check=False, timeout=120
        )
    except FileNotFoundError:
        raise ShipyardError(f"{ASKED}: sbatch is not on PATH", hint=INSTALL_HINT) from None
    except subprocess.TimeoutExpired:
        raise ShipyardError(
            "sbatch did not answer within 120 s", hint="is slurmctld up and reachable?"
        ) from None
    if done.returncode != 0:
        hint = "the cluster's MaxArraySize (slurm.conf) limits a job array's tasks"
        extra = f" ({hint})" if "array" in done.stderr.lower() else ""
        raise ShipyardError(_explain("sbatch", done) + extra)
    array_id = done.stdout.strip().split(";")[0]
    if not array_id:
        raise ShipyardError(f"sbatch said nothing of the array it submitted ({done.stderr})")
    conf = environ.get("SLURM_CONF", "-")
    (folder / "job").write_text(f"{array_id} {conf}\n", encoding="utf-8")
    return array_id


def recorded_array(folder: Path) -> tuple[str, str] | None:
    """The array's job id and SLURM_CONF (``-``: none), if one was submitted."""
    try:
        words = (folder / "job").read_text(encoding="utf-8").split()
    except OSError:
        return None
    return (words[0], words[1]) if len(words) == 2 else None


def cancel_array(workspace: Workspace, sweep_id: str) -> str | None:
    """``scancel`` the sweep's array (every task, pending or running); its id, if it has one.
    Quiet: a stop must go on whatever Slurm answers."""
    recorded = recorded_array(array_folder(workspace, sweep_id))
    if recorded is None:
        return None
    array_id, conf = recorded
    scancel_quietly(array_id, conf)
    return array_id


def scancel_quietly(job_id: str, conf: str) -> None:
    """``scancel job_id`` (an array, or one task ``12_3``) with the SLURM_CONF it was
    submitted with (``-``: none). Quiet: a stop must go on whatever Slurm answers."""
    env = dict(os.environ)
    if conf != "-":
        env["SLURM_CONF"] = conf
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        subprocess.run(["scancel", job_id], env=env, capture_output=True, check=False, timeout=60)


def with_jobs(workspace: Workspace, report: SweepReport) -> SweepReport:
    """``report`` with each point's task of the array (``slurm_job``)."""
    jobs = task_jobs(workspace, report.id)
    if not jobs:
        return report
    points = [
        dataclasses.replace(point, slurm_job=jobs.get(point.execution_id or ""))
        for point in report.points
    ]
    return dataclasses.replace(report, points=points)


def task_jobs(workspace: Workspace, sweep_id: str) -> dict[str, str]:
    """Execution id → its task's job id (``12_3``), for ``sweep status``."""
    folder = array_folder(workspace, sweep_id)
    recorded = recorded_array(folder)
    if recorded is None:
        return {}
    try:
        executions = (folder / "tasks").read_text(encoding="utf-8").split()
    except OSError:
        return {}
    return dict(zip(executions, job_ids_of(recorded[0], len(executions)), strict=True))


def check_array(spec: Spec, source: SourceMap | None, settings: SweepSettings) -> None:
    """Raise :func:`array_refusal`'s error, if there is one."""
    refusal = array_refusal(spec, source, settings, which=shutil.which)
    if refusal is not None:
        raise refusal
