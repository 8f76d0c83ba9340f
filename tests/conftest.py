"""Shared fixtures: each test gets its own folder and Shipyard home, and a clean environment."""

from __future__ import annotations

import contextlib
import os
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import shipyard
from shipyard.api import Operations

SpecWriter = Callable[..., Path]


def missing_component(why: str) -> None:
    """A test whose real component (a mount, cgroups, root) is missing: skipped on a developer's
    machine, but failed in CI (CI=true), where every real part must be there."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why} (CI=true: a missing component fails the run)")
    pytest.skip(why)


#: Variables that choose how the suites run (docs/cli.md, docs/server.md), kept.
_TEST_MODES = frozenset({"SHIPYARD_WIRE_CHECK", "SHIPYARD_SERVER_CHECK"})


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run each test in its own folder, with no SHIPYARD_* variable leaking in from outside
    (but SHIPYARD_WIRE_CHECK and SHIPYARD_SERVER_CHECK, which `make test` sets for the suites'
    second and third runs)."""
    for name in list(os.environ):
        if name.startswith("SHIPYARD_") and name not in _TEST_MODES:
            monkeypatch.delenv(name)
    # Each test's own registry of supervisors (shipyard.supervisors): `ps --all` in one test
    # must not list another's, nor the user's own.
    monkeypatch.setenv("SHIPYARD_SUPERVISORS_DIR", str(tmp_path / "supervisors"))
    # A wide terminal for the commands tests run: a message must not wrap at a length that
    # depends on where pytest put the test's folder (deeper under pytest-xdist).
    monkeypatch.setenv("COLUMNS", "200")
    # Under pytest-xdist each process takes `port: auto` ports from a range of its own: two
    # fleets started at the same instant by two processes would otherwise both probe 8100 free.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker.startswith("gw") and worker[2:].isdigit():
        monkeypatch.setenv("SHIPYARD_BASE_PORT", str(21000 + 1000 * int(worker[2:])))
    monkeypatch.chdir(tmp_path)
    yield tmp_path


@pytest.fixture
def write_spec(tmp_path: Path) -> SpecWriter:
    """Write a spec (dedented) into the test folder and return its path."""

    def write(text: str, name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write


@pytest.fixture
def ops(tmp_path: Path) -> Iterator[Operations]:
    """The operations, as a front end gets them (through every call's JSON round trip when
    SHIPYARD_WIRE_CHECK=1). Tests that inspect state use ``ops.store`` and ``ops.workspace``,
    which both implementations have beside the protocol."""
    operations = shipyard.connect(tmp_path / ".shipyard")
    yield operations
    # A test that failed half-way must not leave a detached run (and its processes) behind.
    for summary in operations.list_executions(active_only=True):
        with contextlib.suppress(Exception):
            operations.stop(summary.id, force=True)
    operations.close()
