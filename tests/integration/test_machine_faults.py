"""Faults of the machine, through the real CLI as a subprocess: a full disk (a 2 MB tmpfs), a
read-only home (a tmpfs remounted read-only: chmod does not stop root), a state.db of garbage
bytes and one truncated to 0 bytes. Each command says what happened and what to do (exit 3),
never shows a traceback, and no outcome is lost.

The tmpfs needs ``mount`` (root, or a sandbox that allows it). Without it these tests skip on a
workstation and fail in CI (CI=true), where the real component must be there.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.acceptance.conftest import shipyard_executable
from tests.conftest import missing_component

Cli = Callable[..., subprocess.CompletedProcess[str]]

FILLER = """
name: fill
steps:
  fill:
    run: "head -c 3000000 /dev/zero; exit 1"
    shell: true
"""

TWO_STEPS = """
name: pair
steps:
  good:
    run: [echo, good]
  bad:
    run: "echo bad; exit {{ code }}"
    shell: true
    needs: [good]
parameters:
  code: 3
"""


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Mount a tmpfs of the given size at tmp_path/home (unmounted afterwards)."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        home = tmp_path / "home"
        home.mkdir()
        done = _mount("-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(home))
        if done.returncode != 0:
            missing_component(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(home)
        return home

    yield mount
    for home in mounted:
        subprocess.run(["umount", "-l", str(home)], check=False)


def cli_for(tmp_path: Path, home: Path) -> Cli:
    executable = shipyard_executable()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "SHIPYARD_HOME": str(home), "NO_COLOR": "1", "COLUMNS": "200"}
        done = subprocess.run(
            [executable, *args],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            cwd=tmp_path,
            check=False,
        )
        assert "Traceback" not in done.stderr + done.stdout, (args, done.stderr)
        return done

    return run


def spec_file(tmp_path: Path, text: str, name: str = "spec.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return str(path)


def fill_up(home: Path) -> Path:
    """Take every byte the file system has left."""
    filler = home / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 1):  # unbuffered, down to the last byte
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return filler


def runs_of(home: Path) -> list[str]:
    return sorted(path.name for path in (home / "runs").iterdir())


@pytest.mark.slow
def test_disk_full_every_command_says_so_and_the_outcome_survives(
    tmp_path: Path, tmpfs: Callable[[str], Path]
) -> None:
    home = tmpfs("2m")
    cli = cli_for(tmp_path, home)
    ran = cli("run", "-q", spec_file(tmp_path, FILLER))
    assert ran.returncode == 3, ran.stderr
    assert "the execution ended but its record could not be saved: disk full" in ran.stderr
    assert "its outcome is kept in" in ran.stderr
    (execution,) = runs_of(home)

    filler = fill_up(home)  # and nothing frees itself: every command meets a full disk
    for args in (
        ("status", execution),
        ("list",),
        ("logs", execution),
        ("clean", execution),
        ("run", "-q", spec_file(tmp_path, FILLER)),
    ):
        done = cli(*args)
        assert done.returncode == 3, (args, done.returncode, done.stderr)
        assert "disk full" in done.stderr, (args, done.stderr)
        assert "free some space" in done.stderr, (args, done.stderr)
    assert runs_of(home) == [execution]  # the refused run left no folder without a record

    filler.unlink()  # space again: the step's real outcome is there
    shown = cli("status", execution, "--json")
    assert shown.returncode == 0, shown.stderr
    status = json.loads(shown.stdout)
    assert status["state"] == "failed"
    (unit,) = status["units"]
    assert (unit["state"], unit["exit_code"], unit["attempts"]) == ("failed", 1, 1)
    assert "lost" not in json.dumps(status)
    listed = json.loads(cli("list", "--json").stdout)
    assert [(item["id"], item["state"]) for item in listed] == [(execution, "failed")]


@pytest.mark.slow
def test_store_rebuild_on_a_full_disk_keeps_the_records(
    tmp_path: Path, tmpfs: Callable[[str], Path]
) -> None:
    """`store rebuild` moved state.db aside, failed on the full disk, and left a 4 KB empty
    database in its place: once space was freed, `list` said "no executions yet"."""
    home = tmpfs("2m")
    cli = cli_for(tmp_path, home)
    assert cli("run", "-q", spec_file(tmp_path, TWO_STEPS)).returncode == 1
    (execution,) = runs_of(home)

    filler = fill_up(home)
    rebuilt = cli("store", "rebuild")
    assert rebuilt.returncode == 3, rebuilt.stderr
    assert "disk full" in rebuilt.stderr, rebuilt.stderr
    shown = cli("list", "--json")  # the full disk does not hide the records
    assert shown.returncode == 0, shown.stderr
    assert [item["id"] for item in json.loads(shown.stdout)] == [execution]

    filler.unlink()
    listed = json.loads(cli("list", "--json").stdout)
    assert [(item["id"], item["state"]) for item in listed] == [(execution, "failed")]
    assert not list(home.glob("state.db.before-rebuild-*"))  # put back, not a copy left over


def test_read_only_home_is_named_and_nothing_is_touched(
    tmp_path: Path, tmpfs: Callable[[str], Path]
) -> None:
    home = tmpfs("16m")
    cli = cli_for(tmp_path, home)
    spec = spec_file(tmp_path, TWO_STEPS)
    assert cli("run", "-q", spec).returncode == 1
    (execution,) = runs_of(home)
    before = sorted(str(path.relative_to(home)) for path in home.rglob("*"))
    remounted = _mount("-o", "remount,ro", str(home))
    assert remounted.returncode == 0, remounted.stderr
    try:
        for args in (
            ("run", "-q", spec),
            ("status", execution),
            ("list",),
            ("logs", execution),
            ("clean", execution),
            ("store", "rebuild"),
        ):
            done = cli(*args)
            assert done.returncode == 3, (args, done.returncode, done.stderr)
            assert "read-only file system" in done.stderr, (args, done.stderr)
            assert "SHIPYARD_HOME" in done.stderr, (args, done.stderr)
    finally:
        assert _mount("-o", "remount,rw", str(home)).returncode == 0
    assert sorted(str(path.relative_to(home)) for path in home.rglob("*")) == before


def _two_runs(tmp_path: Path) -> tuple[Path, Cli, list[str]]:
    """Two executions that failed differently: good exits 0, then bad exits 3, or 4."""
    home = tmp_path / "home"
    cli = cli_for(tmp_path, home)
    spec = spec_file(tmp_path, TWO_STEPS)
    executions = []
    for args in ((), ("-p", "code=4")):
        done = cli("run", "-q", spec, *args)
        assert done.returncode == 1, done.stderr
        executions.append(done.stdout.split()[0])  # in run order (ids of one second sort apart)
    assert sorted(executions) == runs_of(home)
    for execution, expected in zip(executions, EXPECTED, strict=True):
        assert _units(json.loads(cli("status", execution, "--json").stdout)) == expected
    return home, cli, executions


EXPECTED = [
    {"bad": ("failed", 3), "good": ("succeeded", 0)},
    {"bad": ("failed", 4), "good": ("succeeded", 0)},
]


def _units(status: dict[str, object]) -> dict[str, tuple[object, object]]:
    units = status["units"]
    assert isinstance(units, list)
    return {unit["name"]: (unit["state"], unit["exit_code"]) for unit in units}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (b"this is not a database, only text " * 200, "is not an SQLite database"),
        (b"", "is empty (0 bytes)"),
    ],
    ids=["garbage", "truncated"],
)
def test_a_damaged_state_db_is_set_aside_and_rebuilt_from_the_runs(
    tmp_path: Path, damage: bytes, said: str
) -> None:
    home, cli, executions = _two_runs(tmp_path)
    for suffix in ("-wal", "-shm"):
        (home / f"state.db{suffix}").unlink(missing_ok=True)
    (home / "state.db").write_bytes(damage)

    shown = cli("status", executions[0], "--json")
    assert shown.returncode == 0, shown.stderr
    assert said in shown.stderr
    assert "moved aside to" in shown.stderr
    assert "rebuilt 2 executions" in shown.stderr
    assert "not rebuilt" in shown.stderr  # what was lost is said too
    status = json.loads(shown.stdout)
    assert status["state"] == "failed"
    assert _units(status) == EXPECTED[0]
    assert _units(json.loads(cli("status", executions[1], "--json").stdout)) == EXPECTED[1]
    (aside,) = home.glob("state.db.corrupt-*")
    assert aside.read_bytes() == damage  # kept as it was, never deleted

    listed = cli("list", "--json")
    assert sorted(item["id"] for item in json.loads(listed.stdout)) == sorted(executions)
    assert "rebuilt" not in listed.stderr  # once, not at every command
    again = cli("run", "-q", spec_file(tmp_path, TWO_STEPS))
    assert again.returncode == 1, again.stderr
    assert len(runs_of(home)) == 3


def test_store_check_looks_and_store_rebuild_rebuilds(tmp_path: Path) -> None:
    home, cli, executions = _two_runs(tmp_path)
    healthy = cli("store", "check")
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "sound" in healthy.stdout

    garbage = b"\x00\x01garbage" * 1000
    for suffix in ("-wal", "-shm"):
        (home / f"state.db{suffix}").unlink(missing_ok=True)
    (home / "state.db").write_bytes(garbage)
    checked = cli("store", "check")
    assert checked.returncode == 1
    assert "is not an SQLite database" in checked.stdout
    assert "store rebuild" in checked.stdout
    assert (home / "state.db").read_bytes() == garbage  # a check never changes anything

    rebuilt = cli("store", "rebuild", "--json")
    assert rebuilt.returncode == 0, rebuilt.stderr
    report = json.loads(rebuilt.stdout)
    assert sorted(report["rebuilt"]) == sorted(executions)
    assert Path(report["moved_to"]).read_bytes() == garbage
    assert cli("store", "check").returncode == 0
    for execution, expected in zip(executions, EXPECTED, strict=True):
        assert _units(json.loads(cli("status", execution, "--json").stdout)) == expected


def test_damage_found_by_a_query_is_named_with_what_to_do(tmp_path: Path) -> None:
    """A header that is fine but pages that are not: the error names the file and the fix."""
    home, cli, executions = _two_runs(tmp_path)
    assert cli("store", "check").returncode == 0
    data = bytearray((home / "state.db").read_bytes())
    if len(data) <= 4096:  # everything may still sit in the WAL: checkpoint it first
        import sqlite3

        db = sqlite3.connect(home / "state.db")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
        data = bytearray((home / "state.db").read_bytes())
    data[4096:] = b"\xff" * (len(data) - 4096)  # every page after the first
    (home / "state.db").write_bytes(bytes(data))
    for suffix in ("-wal", "-shm"):
        (home / f"state.db{suffix}").unlink(missing_ok=True)
    shown = cli("status", executions[0])
    # Opening failed and quick_check confirmed it: rebuilt; or the damage surfaced in a query
    # after opening: a StoreCorrupt saying what to do. Never a traceback (cli checks).
    if shown.returncode == 0:
        assert "rebuilt 2 executions" in shown.stderr
    else:
        assert shown.returncode == 3, shown.stderr
        assert "is damaged" in shown.stderr
        assert "shipyard store rebuild" in shown.stderr
