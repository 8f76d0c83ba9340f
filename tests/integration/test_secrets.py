"""Secrets and file modes (issue 8, item 3), on real files, real processes and real SQLite.

What is promised: everything Shipyard writes under its home is the user's alone (folders 0700,
files 0600) while the units keep the user's umask; a parameter declared ``secret: true`` never
reaches the disk, a display or an argv — only the environment of the units.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import shipyard
from shipyard.api import Operations
from shipyard.errors import ParameterError, SpecError
from shipyard.models import ExecutionState, ExecutionStatus, to_jsonable
from shipyard.plan.codec import encode
from tests.conftest import SpecWriter, missing_component

NOBODY = 65534


@contextlib.contextmanager
def umask(value: int) -> Iterator[None]:
    previous = os.umask(value)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture
def shared() -> Iterator[Path]:
    """A folder every user can enter (pytest's own tmp folders are root's alone, which would
    hide the very exposure the tests look for)."""
    folder = Path(tempfile.mkdtemp(prefix="shipyard-shared-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def modes_open_to_others(home: Path) -> list[str]:
    """Every folder and file under ``home`` that group or others may use, as 'mode path'.
    The content of artifacts/ is the steps' own output (copies keep their mode); it lies
    behind owner-only folders all the same."""
    found = []
    for root, folders, files in os.walk(home):
        where = Path(root)
        if where.name == "artifacts":
            folders[:] = []
            continue
        for name in [*folders, *files]:
            mode = (where / name).lstat().st_mode
            if stat.S_ISSOCK(mode) or stat.S_ISLNK(mode):
                continue
            if mode & 0o077:
                found.append(f"{stat.S_IMODE(mode):04o} {(where / name).relative_to(home)}")
    if home.stat().st_mode & 0o077:
        found.append(f"{stat.S_IMODE(home.stat().st_mode):04o} (the home itself)")
    return sorted(found)


def read_as_nobody(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/cat", str(path)],
        user=NOBODY,
        group=NOBODY,
        extra_groups=[],
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        check=False,
        timeout=30,
    )


def finished(ops: Operations, execution_id: str) -> ExecutionStatus:
    """The execution once it has ended (a detached one ends in its own time)."""
    deadline = time.monotonic() + 60
    status = ops.status(execution_id)
    while not status.state.finished and time.monotonic() < deadline:
        time.sleep(0.05)
        status = ops.status(execution_id)
    return status


FILE_SPEC = """
name: modes
parameters:
  greeting: hello
steps:
  write:
    run: ["sh", "-c", "umask > umask.txt; echo '{{ greeting }}' > out.txt; echo done"]
    outputs: [out.txt]
  after:
    run: "echo {{ greeting }}"
    needs: [write]
"""


@pytest.mark.parametrize("user_umask", [0o000, 0o022, 0o027])
def test_home_is_owner_only_and_steps_keep_the_users_umask(
    tmp_path: Path, write_spec: SpecWriter, user_umask: int
) -> None:
    spec = write_spec(FILE_SPEC)
    home = tmp_path / "home"
    with umask(user_umask):
        ops = shipyard.connect(home)
        try:
            status = ops.run(spec)
            ops.plan(spec, {"greeting": "again"})  # a second cache entry
            while_open = modes_open_to_others(home)
            present = [name for name in ("state.db-wal", "state.db-shm") if (home / name).exists()]
        finally:
            ops.close()
        assert os.umask(user_umask) == user_umask, "Shipyard changed the process umask"
    assert status.state == ExecutionState.SUCCEEDED
    assert while_open == []
    assert present == ["state.db-wal", "state.db-shm"]  # checked while they exist
    run_dir = Path(status.run_dir)
    assert list((home / "cache" / "plans").glob("*.json"))
    for name in ("plan.json", "spec.yaml", "events.jsonl", "logs/write.log", "spawns.log"):
        assert (run_dir / name).exists(), name
    assert modes_open_to_others(home) == []
    # The step's own files: the user's umask, untouched by Shipyard's care for its home.
    assert (tmp_path / "umask.txt").read_text().strip() == f"{user_umask:04o}"
    assert stat.S_IMODE((tmp_path / "out.txt").stat().st_mode) == 0o666 & ~user_umask


def test_a_detached_run_writes_owner_only_files_too(
    tmp_path: Path, write_spec: SpecWriter, ops: Operations
) -> None:
    spec = write_spec(FILE_SPEC)
    status = finished(ops, ops.run(spec, detach=True).id)
    assert status.state == ExecutionState.SUCCEEDED
    assert (Path(status.run_dir) / "supervisor.log").exists()
    assert modes_open_to_others(ops.workspace.home) == []


def test_another_user_cannot_read_the_state_the_plans_or_the_logs(
    shared: Path, write_spec: SpecWriter
) -> None:
    if os.geteuid() != 0:
        missing_component("needs root to act as another user")
    spec = shared / "spec.yaml"
    spec.write_text(FILE_SPEC.replace("hello", "sensitive-value-41"), encoding="utf-8")
    spec.chmod(0o644)
    (shared / "work").mkdir(mode=0o777)
    home = shared / "home"
    ops = shipyard.connect(home)
    try:
        status = ops.run(spec)
    finally:
        ops.close()
    assert status.state == ExecutionState.SUCCEEDED
    run_dir = Path(status.run_dir)
    targets = [
        home / "state.db",
        home / "state.db-wal",
        run_dir / "plan.json",
        run_dir / "spec.yaml",
        run_dir / "events.jsonl",
        run_dir / "logs" / "after.log",
        *(home / "cache" / "plans").glob("*.json"),
    ]
    assert read_as_nobody(spec).returncode == 0  # the reader works where it may read
    for target in targets:
        attempt = read_as_nobody(target)
        assert attempt.returncode != 0, f"another user read {target}: {attempt.stdout[:80]!r}"
        assert "Permission denied" in attempt.stderr
        assert "sensitive-value-41" not in attempt.stdout


def test_an_open_home_is_closed_once_and_said_so(
    tmp_path: Path, write_spec: SpecWriter, capfd: pytest.CaptureFixture[str]
) -> None:
    """A home made by an older Shipyard (0755, state.db 0644) is tightened at the first
    command, with one note on stderr; the next command finds it closed and says nothing."""
    spec = write_spec(FILE_SPEC)
    home = tmp_path / "old-home"
    with umask(0o022):
        home.mkdir()
        for folder in ("runs", "cache", "trash"):
            (home / folder).mkdir()
        (home / "state.db").touch()
    ops = shipyard.connect(home)
    try:
        ops.list_executions()
        first = capfd.readouterr().err
        ops.close()
        ops.run(spec)
        second = capfd.readouterr().err
    finally:
        ops.close()
    assert "was open to other users (mode 0755)" in first
    assert "now owner-only" in first
    assert "open to other users" not in second
    assert modes_open_to_others(home) == []


@pytest.mark.parametrize("mode", [0o777, 0o700], ids=["open", "private"])
def test_a_home_made_by_hand_gets_owner_only_top_folders(
    tmp_path: Path, write_spec: SpecWriter, mode: int
) -> None:
    """An existing home without runs/ (made by hand, open or not): the folders Shipyard adds
    to it later are owner-only too, not left to a plain mkdir -p under the user's umask."""
    spec = write_spec(FILE_SPEC)
    home = tmp_path / "by-hand"
    home.mkdir()
    home.chmod(mode)
    ops = shipyard.connect(home)
    try:
        with umask(0o022):
            ops.run(spec)
    finally:
        ops.close()
    assert modes_open_to_others(home) == [], "a folder Shipyard made in the home is open"


# -- secret parameters ---------------------------------------------------------------------------

SECRET_SPEC = """
name: secrets
parameters:
  token: {secret: true, description: the API token}
  user: bob
env:
  AUTH: "Bearer {{ token }} for {{ user }}"
steps:
  use:
    # The step proves it got the value (its hash, in its log) without ever printing it.
    run: >-
      printf '%s|%s|%s' "$SHIPYARD_PARAM_TOKEN" "$AUTH" "$MINE" | sha256sum > got.txt;
      cat got.txt
    shell: true
    env:
      MINE: "x{{ token }}y"
  after:
    run: ["sh", "-c", "test -e go || exit 3; echo after"]
    needs: [use]
"""


def expected_digest(secret: str) -> str:
    text = f"{secret}|Bearer {secret} for bob|x{secret}y"
    return hashlib.sha256(text.encode()).hexdigest()


def traces(secret: str) -> list[bytes]:
    """The secret as it could leak: itself, and its plain hashes (a short secret's hash is
    undone by trying candidates)."""
    raw = secret.encode()
    return [raw, hashlib.sha256(raw).hexdigest().encode(), hashlib.md5(raw).hexdigest().encode()]


def files_holding(home: Path, secret: str) -> list[str]:
    found = []
    for path in sorted(home.rglob("*")):
        if path.is_file() and not path.is_symlink() and not stat.S_ISSOCK(path.lstat().st_mode):
            data = path.read_bytes()
            found += [f"{path.relative_to(home)}" for trace in traces(secret) if trace in data]
    return found


@pytest.fixture
def secret() -> str:
    return f"hunter-{secrets.token_hex(6)}"


def test_a_secret_reaches_the_step_only_through_its_environment(
    tmp_path: Path,
    write_spec: SpecWriter,
    ops: Operations,
    secret: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = write_spec(SECRET_SPEC)
    (tmp_path / "go").touch()
    monkeypatch.setenv("SHIPYARD_PARAM_TOKEN", secret)
    status = ops.run(spec)
    assert status.state == ExecutionState.SUCCEEDED, status
    # The step really had it, in all three forms.
    assert (tmp_path / "got.txt").read_text().split()[0] == expected_digest(secret)
    # Nothing Shipyard shows has it.
    plan = ops.plan(spec)
    shown = json.dumps(
        [encode(plan), to_jsonable(ops.status(status.id)), to_jsonable(ops.list_executions())]
    )
    assert secret not in shown
    assert ops.status(status.id).parameters == {"token": "***", "user": "bob"}
    assert plan.step("use").env["AUTH"] == "Bearer *** for bob"
    events = (Path(status.run_dir) / "events.jsonl").read_text()
    assert "unit_started" in events
    # Nothing Shipyard wrote has it (state.db and its WAL read while the store is open).
    assert (ops.workspace.home / "state.db-wal").exists()
    assert files_holding(ops.workspace.home, secret) == []


def test_a_secret_given_with_p_is_kept_off_the_disk_too(
    tmp_path: Path, write_spec: SpecWriter, ops: Operations, secret: str
) -> None:
    spec = write_spec(SECRET_SPEC)
    (tmp_path / "go").touch()
    status = ops.run(spec, {"token": secret, "user": "bob"})
    assert status.state == ExecutionState.SUCCEEDED
    assert (tmp_path / "got.txt").read_text().split()[0] == expected_digest(secret)
    assert files_holding(ops.workspace.home, secret) == []


def test_a_missing_secret_is_asked_for_and_nothing_starts(
    write_spec: SpecWriter, ops: Operations
) -> None:
    spec = write_spec(SECRET_SPEC)
    with pytest.raises(ParameterError, match="secret parameter 'token' was not given") as error:
        ops.run(spec)
    assert error.value.hint and "SHIPYARD_PARAM_TOKEN" in error.value.hint
    assert ops.list_executions() == []
    assert ops.plan(spec).parameters["token"] == "***"  # showing the plan needs no secret


def test_a_secret_with_a_nul_byte_is_refused_without_showing_it(
    write_spec: SpecWriter, ops: Operations
) -> None:
    spec = write_spec(SECRET_SPEC)
    with pytest.raises(ParameterError, match="NUL byte") as error:
        ops.run(spec, {"token": "abc\0hidden-part"})
    assert "hidden-part" not in str(error.value)


@pytest.mark.parametrize("threads", [False, True], ids=["forked", "fresh-interpreter"])
def test_a_detached_run_gets_the_secret_without_a_file(
    tmp_path: Path,
    write_spec: SpecWriter,
    ops: Operations,
    secret: str,
    monkeypatch: pytest.MonkeyPatch,
    threads: bool,
) -> None:
    """run -d forks this process (the values stay in memory) or, with other threads about,
    starts `python -m shipyard.supervisor`, which reads them from a pipe."""
    spec = write_spec(SECRET_SPEC)
    (tmp_path / "go").touch()
    monkeypatch.setenv("SHIPYARD_PARAM_TOKEN", secret)
    release = threading.Event()
    other = threading.Thread(target=release.wait, daemon=True)
    if threads:
        other.start()
    try:
        started = ops.run(spec, detach=True)
    finally:
        release.set()
    status = finished(ops, started.id)
    assert status.state == ExecutionState.SUCCEEDED, status
    assert (tmp_path / "got.txt").read_text().split()[0] == expected_digest(secret)
    supervisor_log = (Path(status.run_dir) / "supervisor.log").read_text()
    assert secret not in supervisor_log
    assert files_holding(ops.workspace.home, secret) == []


def test_resume_asks_for_the_secret_again(
    tmp_path: Path,
    write_spec: SpecWriter,
    ops: Operations,
    secret: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = write_spec(SECRET_SPEC)
    failed = ops.run(spec, {"token": secret})  # 'after' fails: no 'go' file yet
    assert failed.state == ExecutionState.FAILED
    (tmp_path / "go").touch()
    (tmp_path / "got.txt").unlink()
    with pytest.raises(
        ParameterError, match=r"'token' was not given \(its value is never stored"
    ) as e:
        ops.resume(failed.id)
    assert e.value.hint and f"shipyard resume {failed.id}" in e.value.hint
    with pytest.raises(ParameterError, match="'user' is not a secret parameter"):
        ops.resume(failed.id, params={"token": secret, "user": "eve"})
    monkeypatch.setenv("SHIPYARD_PARAM_TOKEN", secret)
    resumed = ops.resume(failed.id)
    assert resumed.state == ExecutionState.SUCCEEDED
    assert resumed.unit("use").attempts == 1  # kept: its key holds the secret's template only
    assert not (tmp_path / "got.txt").exists()
    assert files_holding(ops.workspace.home, secret) == []


def test_a_secret_is_refused_in_an_argv_at_validation(
    write_spec: SpecWriter, ops: Operations
) -> None:
    spec = write_spec(
        """
        name: leaky
        parameters:
          token: {secret: true}
        steps:
          a:
            run: [curl, -H, "Authorization: {{ token }}", https://example.invalid]
        """
    )
    with pytest.raises(SpecError) as error:
        ops.run(spec, {"token": "x"})
    (problem,) = error.value.problems
    assert "secret parameter 'token' is used in a command" in problem.message
    assert problem.location is not None
    assert (problem.location.line, problem.location.column) == (6, 21)
    assert problem.hint and '"$SHIPYARD_PARAM_TOKEN"' in problem.hint


def test_cache_entry_names_are_keyed_per_home(tmp_path: Path, write_spec: SpecWriter) -> None:
    """The same spec and -p values give other entry names in another home: the names are an
    HMAC under the home's own random key (cache/key, 0600), not a hash anyone can recompute."""
    spec = write_spec(SECRET_SPEC)
    names = []
    for home in ("one", "two"):
        ops = shipyard.connect(tmp_path / home)
        try:
            ops.plan(spec, {"token": "1234"})
        finally:
            ops.close()
        key = tmp_path / home / "cache" / "key"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        names.append({entry.name for entry in (key.parent / "plans").glob("*.json")})
    assert len(names[0]) == 1
    assert names[0].isdisjoint(names[1])


@pytest.mark.parametrize("user_umask", [0o000, 0o022])
def test_a_rotated_log_is_owner_only(tmp_path: Path, user_umask: int) -> None:
    from shipyard.logfiles import rotate_if_due, rotated

    log = tmp_path / "unit.log"
    log.write_bytes(b"x" * 4096)
    log.chmod(0o600)
    with umask(user_umask):
        assert rotate_if_due(log, max_size=1024, keep=2)
    assert stat.S_IMODE(rotated(log, 1).stat().st_mode) == 0o600


def test_a_service_gets_the_secret_through_its_environment(
    tmp_path: Path, write_spec: SpecWriter, ops: Operations, secret: str
) -> None:
    spec = write_spec(
        """
        name: fleet-secret
        parameters:
          token: {secret: true}
        services:
          api:
            run: >-
              printf '%s|%s' "$SHIPYARD_PARAM_TOKEN" "$API_AUTH" | sha256sum > svc.tmp &&
              mv svc.tmp svc.txt && exec sleep 60
            shell: true
            env:
              API_AUTH: "Bearer {{ token }}"
        steps:
          client:
            needs: [api]
            run: >-
              for i in $(seq 200); do test -e svc.txt && exit 0; sleep 0.05; done; exit 1
            shell: true
        """
    )
    status = ops.run(spec, {"token": secret})
    assert status.state == ExecutionState.SUCCEEDED, status
    wanted = hashlib.sha256(f"{secret}|Bearer {secret}".encode()).hexdigest()
    assert (tmp_path / "svc.txt").read_text().split()[0] == wanted
    assert ops.plan(spec).service("api").env["API_AUTH"] == "Bearer ***"
    assert files_holding(ops.workspace.home, secret) == []
