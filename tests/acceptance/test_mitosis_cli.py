"""Mitosis's own files through the installed CLI against a real ``shipyard serve --db`` on the
throwaway PostgreSQL (issue 17 §6): both suite JSONs create suites, the task JSON is submitted
to one, and a ``shipyard manager --config`` of Mitosis's node manager config runs it — its
``./setup.sh`` and ``./cleanup.sh`` hooks and ``echo hello`` — to Complete. The files are
tests/fixtures/seed-formats/mitosis/, unchanged (the manager's config gets this coordinator's
URL and group, as a user would edit it)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

# ruff: noqa: F811  (the fixture `served` is imported, and named by the tests' parameters)
from tests.acceptance.test_suite_cli import suite as shipyard
from tests.integration.test_coordinator_routes import Served, _env
from tests.integration.test_manager_process import served  # noqa: F401
from tests.postgres import pg_cluster, pg_url  # noqa: F401  (fixtures)
from tests.serving import _executable

# slow as a file: a served coordinator on a throwaway PostgreSQL, with real workers or managers
# whose tests wait out leases, heartbeats and timeouts (make test-slow and CI run it)
pytestmark = [
    pytest.mark.local_only("talks to a coordinator of its own, not to the local server"),
    pytest.mark.slow,
]

SEEDS = Path(__file__).parents[1] / "fixtures" / "seed-formats" / "mitosis"
API = "/api/v1"


def _root(served: Served) -> tuple[str, dict[str, str]]:
    login = shipyard(served.url, None, "tasks", "login", "root")
    assert login.returncode == 0, login.stderr
    token = login.stdout.strip()
    headers = {"Authorization": f"Bearer {token}"}
    for group in ("ml-team", "my-group"):  # the groups the files name
        made = served.http.post(f"{API}/groups", json={"name": group}, headers=headers)
        assert made.status_code == 201, made.text
    return token, headers


def _until(what: str, check: Any, seconds: float = 90.0) -> Any:
    deadline = time.monotonic() + seconds
    while not (got := check()):
        assert time.monotonic() < deadline, f"{what} did not happen within {seconds} s"
        time.sleep(0.2)
    return got


def _alive(manager: subprocess.Popen[bytes], err: Path) -> bool:
    assert manager.poll() is None, f"the manager left ({manager.returncode}): {err.read_text()}"
    return True


def test_the_guide_suite_is_created_with_each_key_mapped(served: Served) -> None:
    token, headers = _root(served)
    guide = SEEDS / "suite-create.guide.json"
    made = shipyard(served.url, token, "suite", "create", str(guide), "--json")
    assert made.returncode == 0, made.stderr
    assert f"{guide}:5:5: labels: a list of strings → a mapping" in made.stderr, made.stderr
    uuid = json.loads(made.stdout)["uuid"]
    got = served.http.get(f"{API}/suites/{uuid}", headers=headers).json()
    assert (got["name"], got["group"], got["state"]) == ("ResNet Training", "ml-team", "open")
    assert sorted(got["tags"]) == ["gpu", "linux"] and got["labels"] == {"project": "resnet"}
    schedule = got["worker_schedule"]
    assert (schedule["count"], schedule["prefetch"]) == (8, 16), schedule
    assert got["env_preparation"]["command"] == ["./setup.sh"], got
    assert got["env_preparation"]["timeout"] == 300 and got["env_cleanup"]["timeout"] == 120


def test_exec_hooks_suite_and_task_run_on_a_manager_of_the_mitosis_config(
    served: Served, tmp_path: Path
) -> None:
    token, headers = _root(served)
    hooks = SEEDS / "suite-create.exec-hooks.json"
    made = shipyard(served.url, token, "suite", "create", str(hooks), "--format", "mitosis",
                    "--json")  # fmt: skip
    assert made.returncode == 0, made.stderr
    uuid = json.loads(made.stdout)["uuid"]
    task_file = SEEDS / "task-submit.exec-spec.json"
    sent = shipyard(served.url, token, "suite", "submit", uuid, "--file", str(task_file))
    assert sent.returncode == 0, sent.stderr
    (task,) = sent.stdout.split()
    # The hooks are ./setup.sh and ./cleanup.sh, run in the suite's folder: put there first.
    folder = tmp_path / "manager"
    home = folder / "suites" / uuid
    home.mkdir(parents=True)
    for name in ("setup", "cleanup"):
        script = home / f"{name}.sh"
        script.write_text(f"#!/bin/sh\necho {name} $SHIPYARD_SUITE_UUID > {name}.done\n")
        script.chmod(0o755)
    config = tmp_path / "manager-config.toml"
    config.write_text(
        (SEEDS / "manager-config.toml")
        .read_text()
        .replace("https://coordinator.example.com", served.url)
        .replace('["ml-team"]', '["my-group"]')
        + 'heartbeat_interval = "1s"\n'
    )
    issued = served.http.post(f"{API}/groups/my-group/managers", headers=headers)
    assert issued.status_code == 201, issued.text
    env = _env(tmp_path / "home") | {"SHIPYARD_MANAGER_TOKEN": issued.json()["token"]}
    out, err = tmp_path / "out.jsonl", tmp_path / "err.txt"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        manager = subprocess.Popen(
            [_executable(), "manager", "--config", str(config), "--folder", str(folder), "--json"],
            stdout=stdout, stderr=stderr, env=env, start_new_session=True,
        )  # fmt: skip
    try:

        def state() -> dict[str, Any]:
            found: dict[str, Any] = served.http.get(f"{API}/suites/{uuid}", headers=headers).json()
            return found

        _until(
            "the suite complete", lambda: _alive(manager, err) and state()["state"] == "complete"
        )
        assert state()["counters"]["done"] == 1, state()
        result = served.http.get(f"{API}/tasks/{task}/result", headers=headers).json()
        assert result["state"] == "succeeded" and result["output_tail"] == "hello\n", result
        assert (home / "setup.done").read_text() == f"setup {uuid}\n"
        _until("the cleanup hook", lambda: (home / "cleanup.done").exists())
        said = err.read_text()
        assert f"{config}:3:1: labels: not mapped" in said, said

        def events() -> list[str]:
            return [json.loads(line)["event"] for line in out.read_text().splitlines()]

        # The hook's file is there before the hook has ended and the manager has said so.
        _until("the manager's suite_done line", lambda: "suite_done" in events())
        assert events()[0] == "registered", events()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(manager.pid, signal.SIGKILL)
        manager.wait(timeout=30)
    listed = served.http.get(f"{API}/managers", headers=headers).json()["managers"]
    assert [(m["group"], sorted(m["tags"])) for m in listed] == [
        ("my-group", ["cuda:11.8", "gpu", "linux", "x86_64"])
    ], listed


def test_a_lone_task_and_wrong_files_through_the_cli(served: Served, tmp_path: Path) -> None:
    token, headers = _root(served)
    task_file = SEEDS / "task-submit.exec-spec.json"
    sent = shipyard(served.url, token, "tasks", "submit", "--file", str(task_file), "--json")
    assert sent.returncode == 0, sent.stderr
    (accepted,) = json.loads(sent.stdout)["accepted"]
    shown = served.http.get(f"{API}/tasks/{accepted['uuid']}", headers=headers).json()
    assert (shown["group"], shown["command"]) == ("my-group", ["echo", "hello"]), shown
    assert shown["timeout"] == 300, shown
    broken = tmp_path / "suite.json"
    broken.write_text('{\n  "group_name": "my-group",\n  "tags": ["a" "b"]\n}\n')
    refused = shipyard(served.url, token, "suite", "create", str(broken))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
    assert f"{broken}:3:16: this is not valid JSON" in refused.stderr, refused.stderr
    typo = tmp_path / "typo.json"
    typo.write_text('{\n  "group_name": "my-group",\n  "worker_schedule": {"worker_cont": 2}\n}\n')
    refused = shipyard(served.url, token, "suite", "create", str(typo))
    assert refused.returncode == 2, refused.stderr
    assert f"{typo}:3:23: worker_schedule.worker_cont: not a key" in refused.stderr
    assert "did you mean 'worker_count'?" in refused.stderr, refused.stderr
    wrong = shipyard(
        served.url, token, "tasks", "submit", "--file", str(SEEDS / "suite-create.guide.json")
    )
    assert wrong.returncode == 2 and "this is a Mitosis suite" in wrong.stderr, wrong.stderr
    assert served.http.get(f"{API}/suites", headers=headers).json()["count"] == 0


@pytest.mark.parametrize(
    "name",
    ["suite-create.guide.json", "suite-create.exec-hooks.json", "task-submit.exec-spec.json"],
)
def test_import_writes_the_shipyard_file(tmp_path: Path, name: str) -> None:
    written = tmp_path / "out.yaml"
    made = subprocess.run(
        [_executable(), "import", str(SEEDS / name), "-o", str(written)],
        env=_env(tmp_path / "home"), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    text = written.read_text()
    assert "# Imported from the Mitosis" in text and "# group_name" in text, text
    if name == "suite-create.guide.json":
        assert "labels: a list of strings" in made.stderr, made.stderr
