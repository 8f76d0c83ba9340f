"""The engine's last line of defence (issue 8, item 7): a plan that validation would have refused
still ends each unit `failed` with its reason, never `pending` under a failed execution, never a
crash of the run.

The plans are built from a valid spec and then given what only a bypass of validation could give
them (a plan from an older Shipyard, the Python API): the engine itself is real.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shipyard.local import LocalOperations
from shipyard.models import ExecutionState, UnitState
from shipyard.plan.model import Plan, PlannedCommand, PlannedStep
from shipyard.workspace import Workspace
from tests.conftest import SpecWriter

Doctor = Callable[[PlannedStep, Path], PlannedStep]


class DoctoredPlans(LocalOperations):
    """LocalOperations whose plans have their step ``a`` changed by ``doctor``."""

    def __init__(self, home: Path, doctor: Doctor, folder: Path) -> None:
        super().__init__(Workspace(home))
        self.doctor = doctor
        self.folder = folder

    def plan(self, spec_path: str | Path, params: Any = None, **kwargs: Any) -> Plan:
        plan = super().plan(spec_path, params, **kwargs)
        steps = [
            self.doctor(step, self.folder) if step.name == "a" else step for step in plan.steps
        ]
        return dataclasses.replace(plan, steps=steps)


def _argv(argv: list[str]) -> Doctor:
    return lambda step, _: dataclasses.replace(step, command=PlannedCommand(argv=argv))


def _env(env: dict[str, Any]) -> Doctor:
    return lambda step, _: dataclasses.replace(step, env={**step.env, **env})


def _workdir_file_and(argv: list[str]) -> Doctor:
    """A working folder other than the current one takes the Popen path, not posix_spawn."""

    def doctor(step: PlannedStep, folder: Path) -> PlannedStep:
        (folder / "sub").mkdir(exist_ok=True)
        return dataclasses.replace(
            step, command=PlannedCommand(argv=argv), workdir=str(folder / "sub")
        )

    return doctor


CASES: dict[str, tuple[Doctor, str]] = {
    "no argv": (_argv([]), "the command is empty"),
    "empty program": (_argv([""]), "the command is empty"),
    "NUL in argv": (_argv(["echo", "a\0b"]), "embedded null byte"),
    "NUL in env": (_env({"X": "a\0b"}), "embedded null byte"),
    "env key with =": (_env({"A=B": "x"}), "illegal environment variable name"),
    "empty env key": (_env({"": "x"}), "illegal environment variable name"),
    "NUL in argv, Popen path": (_workdir_file_and(["echo", "a\0b"]), "null byte"),
    # Not a ValueError: only the executor's catch-all turns it into a reason.
    "non-string env value": (_env({"X": 3}), "cannot start: TypeError"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_unit_that_cannot_start_fails_with_its_reason(
    write_spec: SpecWriter, tmp_path: Path, case: str
) -> None:
    doctor, reason = CASES[case]
    spec = write_spec(
        "name: bad\nsteps:\n  a: {run: ['true']}\n  b: {run: ['true'], needs: [a]}\n"
        "  c: {run: ['true']}\n"
    )
    ops = DoctoredPlans(tmp_path / ".shipyard", doctor, tmp_path)
    try:
        status = ops.run(spec)
        assert status.state == ExecutionState.FAILED
        states = {unit.name: unit.state for unit in status.units}
        assert states["a"] == UnitState.FAILED, states
        assert states["b"] == UnitState.SKIPPED, states
        assert UnitState.PENDING not in states.values(), states
        assert reason in (status.unit("a").reason or ""), status.unit("a")
        log = (tmp_path / ".shipyard" / "runs" / status.id / "logs" / "a.log").read_text()
        assert reason in log
    finally:
        ops.close()


class DoctoredService(LocalOperations):
    """LocalOperations whose plans start service ``w`` with ``argv``."""

    def __init__(self, home: Path, argv: list[str]) -> None:
        super().__init__(Workspace(home))
        self.argv = argv

    def plan(self, spec_path: str | Path, params: Any = None, **kwargs: Any) -> Plan:
        plan = super().plan(spec_path, params, **kwargs)
        command = PlannedCommand(argv=self.argv)
        services = [dataclasses.replace(service, command=command) for service in plan.services]
        return dataclasses.replace(plan, services=services)


@pytest.mark.parametrize(
    ("argv", "reason"),
    [(["sleep", "30\0"], "embedded null byte"), ([""], "the command is empty")],
)
def test_a_service_that_cannot_start_fails_with_its_reason(
    write_spec: SpecWriter, tmp_path: Path, argv: list[str], reason: str
) -> None:
    """The fleet catches only SpawnError: spawn itself must turn these into one."""
    spec = write_spec(
        "name: bad\nservices:\n  w: {run: [sleep, '30'], restart: {policy: 'no'}}\n"
        "steps:\n  a: {run: ['true'], needs: [w]}\n"
    )
    ops = DoctoredService(tmp_path / ".shipyard", argv)
    try:
        status = ops.run(spec)
        assert status.state == ExecutionState.FAILED
        states = {unit.name: unit.state for unit in status.units}
        assert states == {"w": UnitState.FAILED, "a": UnitState.SKIPPED}, states
        assert reason in (status.unit("w").reason or ""), status.unit("w")
    finally:
        ops.close()
