"""``shipyard serve`` and :class:`shipyard.remote.RemoteOperations` against it: a real uvicorn
server in a subprocess on 127.0.0.1, real executions, real HTTP (tests/serving.py)."""

from __future__ import annotations

import contextlib
import json
import re
import stat
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import shipyard
from shipyard.errors import ExecutionNotFound, ParameterError, ShipyardError, SpecError
from shipyard.models import ExecutionState
from tests.serving import Served, served


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("server")
    with served(folder / "home") as running:
        yield running
        # The proof that no tested route answered 5xx: the server's own count, by status.
        scraped = httpx.get(f"{running.url}/metrics").text
        failed = re.findall(r'shipyard_http_requests_total\{[^}]*status="5\d\d"[^}]*\}', scraped)
        assert failed == [], f"routes answered 5xx: {failed}\n{running.log.read_text()}"
        leftovers = shipyard.connect(running.home)
        for summary in leftovers.list_executions(active_only=True):
            with contextlib.suppress(Exception):
                leftovers.stop(summary.id, force=True)
        leftovers.close()


@pytest.fixture
def remote(server: Served) -> Iterator[shipyard.Operations]:
    ops = shipyard.connect(url=server.url, token=server.token)
    yield ops
    ops.close()


def write(folder: Path, text: str, name: str = "spec.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


QUICK = """
    name: quick
    parameters:
      count: {type: int, default: 2}
    steps:
      hello:
        run: echo hello {{ count }}
      after:
        run: echo after
        needs: [hello]
"""

SLOW = """
    name: slow
    steps:
      nap:
        run: sleep 60
"""


def auth(server: Served, token: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token or server.token}"}


# -- auth -----------------------------------------------------------------------------------------


def test_health_and_metrics_are_open_and_everything_else_needs_the_token(server: Served) -> None:
    assert httpx.get(f"{server.url}/health").json()["status"] == "ok"
    assert httpx.get(f"{server.url}/metrics").status_code == 200
    for headers in ({}, auth(server, "w" * 43), {"Authorization": "Basic xyz"}):
        for method, path in (
            ("POST", "/api/v1/ops/list_executions"),
            ("GET", "/api/v1/executions"),
        ):
            response = httpx.request(method, f"{server.url}{path}", headers=headers, json={})
            assert response.status_code == 401, (headers, path)
            assert "token" in response.json()["msg"]
    ok = httpx.get(f"{server.url}/api/v1/executions", headers=auth(server))
    assert ok.status_code == 200 and isinstance(ok.json(), list)


def test_the_token_file_is_owner_only(server: Served) -> None:
    mode = stat.S_IMODE((server.home / "server.token").stat().st_mode)
    assert mode == 0o600
    assert len(server.token) >= 32


def test_a_wrong_token_is_one_clear_error_from_the_client(server: Served) -> None:
    ops = shipyard.connect(url=server.url, token="w" * 43)
    with pytest.raises(ShipyardError, match="refused the token") as refused:
        ops.list_executions()
    assert "--token" in (refused.value.hint or "")
    ops.close()


# -- executions -----------------------------------------------------------------------------------


def test_a_foreground_run_returns_its_final_status_and_logs(
    remote: shipyard.Operations, tmp_path: Path
) -> None:
    spec = write(tmp_path, QUICK)
    status = remote.run(spec, {"count": 5})
    assert status.state == ExecutionState.SUCCEEDED
    assert [unit.state.value for unit in status.units] == ["succeeded", "succeeded"]
    lines = [line.text for line in remote.logs(status.id, "hello")]
    assert lines == ["hello 5"]
    assert remote.status().id == status.id  # the latest
    assert status.id in [summary.id for summary in remote.list_executions(limit=5)]
    batch = remote.events(status.id)
    assert batch.finished and batch.events


def test_hold_then_start_works_across_requests(remote: shipyard.Operations, tmp_path: Path) -> None:
    held = remote.run(write(tmp_path, QUICK), hold=True)
    assert held.state == ExecutionState.PENDING
    after = remote.events(held.id).cursor
    final = remote.start(held.id)
    assert final.state == ExecutionState.SUCCEEDED
    assert remote.events(held.id, after=after).events  # its events came after the cursor
    with pytest.raises(ExecutionNotFound, match="not waiting to start"):
        remote.start(held.id)


def test_detached_run_followed_then_stopped(remote: shipyard.Operations, tmp_path: Path) -> None:
    started = remote.run(write(tmp_path, SLOW), detach=True)
    assert started.state in (ExecutionState.PENDING, ExecutionState.RUNNING)
    assert started.id in [summary.id for summary in remote.list_executions(active_only=True)]
    report = remote.stop(started.id, grace=1.0)
    assert report.running == ["nap"] or report.never_start == ["nap"]
    assert remote.status(started.id).state == ExecutionState.CANCELLED


def test_logs_follow_streams_until_the_units_end(
    remote: shipyard.Operations, tmp_path: Path
) -> None:
    spec = write(
        tmp_path,
        """
        name: ticking
        steps:
          tick:
            run: 'for i in 1 2 3; do echo tick $i; sleep 0.3; done'
            shell: true
        """,
    )
    started = remote.run(spec, detach=True)
    lines = [line.text for line in remote.logs(started.id, "tick", follow=True)]
    assert lines == ["tick 1", "tick 2", "tick 3"]


def test_resume_keeps_what_succeeded(remote: shipyard.Operations, tmp_path: Path) -> None:
    marker = tmp_path / "second-time"
    spec = write(
        tmp_path,
        f"""
        name: flaky
        steps:
          first:
            run: echo first
          second:
            run: 'test -e {marker} || {{ touch {marker}; exit 1; }}'
            shell: true
            needs: [first]
        """,
    )
    failed = remote.run(spec)
    assert failed.state == ExecutionState.FAILED
    resumed = remote.resume(failed.id)
    assert resumed.id == failed.id and resumed.state == ExecutionState.SUCCEEDED
    first = next(unit for unit in resumed.units if unit.name == "first")
    assert first.attempts == 1  # kept, not run again


def test_clean_and_checkpoints(remote: shipyard.Operations, tmp_path: Path) -> None:
    done = remote.run(write(tmp_path, QUICK))
    preview = remote.clean(done.id, dry_run=True)
    assert preview.dry_run and [run.execution_id for run in preview.runs] == [done.id]
    assert remote.checkpoint_list(done.id) == []
    with pytest.raises(ShipyardError):
        remote.checkpoint_create(done.id)  # a finished execution has nothing to checkpoint


def test_a_fleet_up_ps_restart_down(remote: shipyard.Operations, tmp_path: Path) -> None:
    import sys

    spec = write(
        tmp_path,
        f"""
        name: webfleet
        services:
          web:
            run: 'exec {sys.executable} -m http.server --bind 127.0.0.1 $PORT'
            shell: true
            port: auto
            health: {{tcp: true, interval: 0.1s}}
        """,
    )
    fleet = remote.up(spec, detach=True)
    healthy = remote.wait_healthy(fleet.id, timeout=60)
    web = next(unit for unit in healthy.units if unit.name == "web")
    assert remote.latest_fleet(active=True) == fleet.id
    restarted = remote.restart_service(fleet.id, "web")
    assert restarted.pid != web.pid
    report = remote.stop(fleet.id, grace=0.0)
    assert report.state is not None and report.state.finished


def test_pipelines_and_validation(remote: shipyard.Operations, tmp_path: Path) -> None:
    spec = write(tmp_path, QUICK)
    assert remote.validate(spec).valid
    remote.pipeline_add("served-quick", spec, replace=True)
    assert "served-quick" in [info.name for info in remote.pipeline_list()]
    assert remote.plan("served-quick").name == "quick"
    assert remote.pipeline_remove("served-quick").name == "served-quick"


# -- errors ---------------------------------------------------------------------------------------


def test_errors_keep_their_class_and_hint(remote: shipyard.Operations, tmp_path: Path) -> None:
    with pytest.raises(ExecutionNotFound) as missing:
        remote.status("exec_nope")
    assert missing.value.hint and "shipyard list" in missing.value.hint
    with pytest.raises(ParameterError, match="count"):
        remote.plan(write(tmp_path, QUICK), {"count": "many"})
    with pytest.raises(SpecError) as bad:
        remote.plan(write(tmp_path, "name: broken\nsteps:\n  a: {rn: x}\n", "bad.yaml"))
    assert bad.value.problems  # the problems cross too, each with its line


@pytest.mark.parametrize(
    ("path", "body", "status", "says"),
    [
        ("/api/v1/ops/status", {"execution_id": "exec_none"}, 404, "no execution"),
        ("/api/v1/ops/status", {"execution_id": 7}, 422, "execution_id"),
        ("/api/v1/ops/status", {"bogus": 1}, 422, "unknown argument bogus"),
        ("/api/v1/ops/stop", {}, 422, "missing argument execution_id"),
        ("/api/v1/ops/run", {"spec": "../../etc/passwd"}, 422, "no spec file"),
        ("/api/v1/ops/nothing_such", {}, 404, ""),
        ("/api/v1/ops/plan", {"spec": "x.yaml", "mode": {"$gt": 1}}, 422, "mode"),
    ],
)
def test_bad_requests_are_4xx_with_a_message(
    server: Served, path: str, body: dict[str, object], status: int, says: str
) -> None:
    response = httpx.post(f"{server.url}{path}", json=body, headers=auth(server))
    assert response.status_code == status, response.text
    data = response.json()
    assert says in str(data.get("msg", data.get("detail", "")))
    assert "Traceback" not in response.text


def test_a_body_that_is_not_json_is_422(server: Served) -> None:
    response = httpx.post(
        f"{server.url}/api/v1/ops/status", content=b"{not json", headers=auth(server)
    )
    assert response.status_code == 422 and "not JSON" in response.json()["msg"]


# -- readable REST aliases ------------------------------------------------------------------------


def test_rest_aliases_and_logs_as_server_sent_events(
    server: Served, remote: shipyard.Operations, tmp_path: Path
) -> None:
    done = remote.run(write(tmp_path, QUICK))
    base, headers = f"{server.url}/api/v1", auth(server)
    listed = httpx.get(f"{base}/executions", params={"limit": 100}, headers=headers).json()
    assert done.id in [row["id"] for row in listed]
    one = httpx.get(f"{base}/executions/{done.id}", headers=headers).json()
    assert one["state"] == "succeeded"
    assert httpx.get(f"{base}/executions/exec_none", headers=headers).status_code == 404
    with httpx.stream(
        "GET", f"{base}/executions/{done.id}/logs", params={"follow": 1}, headers=headers
    ) as events:
        assert events.headers["content-type"].startswith("text/event-stream")
        text = "".join(events.iter_text())
    kinds = re.findall(r"^event: (\w+)$", text, flags=re.MULTILINE)
    assert kinds.count("line") == 2 and kinds[-1] == "end"
    data = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]
    assert {entry["text"] for entry in data} == {"hello 2", "after"}


# -- concurrency ----------------------------------------------------------------------------------


def test_concurrent_requests_each_get_their_answer(server: Served, tmp_path: Path) -> None:
    spec = write(tmp_path, QUICK)
    answers: list[object] = []
    failures: list[BaseException] = []

    def client(index: int) -> None:
        ops = shipyard.connect(url=server.url, token=server.token)
        try:
            if index % 4 == 0:  # a held run started from this thread's own client
                held = ops.run(spec, {"count": index}, hold=True)
                answers.append(ops.start(held.id).state)
            else:
                for _ in range(5):
                    ops.list_executions(limit=3)
                    ops.validate(spec)
                answers.append(ExecutionState.SUCCEEDED)
        except BaseException as error:  # reported on the test's thread
            failures.append(error)
        finally:
            ops.close()

    threads = [threading.Thread(target=client, args=(index,)) for index in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    assert answers == [ExecutionState.SUCCEEDED] * 12


# -- the OpenAPI document -------------------------------------------------------------------------


def test_every_operation_has_its_route(server: Served) -> None:
    from shipyard.server.app import NOT_SERVED
    from shipyard.wire import operation_names

    document = httpx.get(f"{server.url}/openapi.json").json()
    for name in operation_names():
        if name in NOT_SERVED:
            assert f"/api/v1/ops/{name}" not in document["paths"]
            continue
        route = document["paths"][f"/api/v1/ops/{name}"]["post"]
        assert "requestBody" in route and "200" in route["responses"]


@pytest.mark.parametrize(
    "execution_id",
    ["../../etc/passwd", "exec\x00nul", "x" * 5000, "'; DROP TABLE executions; --", "ü🚀"],
)
def test_hostile_ids_are_404_through_the_client_and_the_aliases(
    server: Served, remote: shipyard.Operations, execution_id: str
) -> None:
    with pytest.raises(ExecutionNotFound):
        remote.status(execution_id)
    response = httpx.post(
        f"{server.url}/api/v1/ops/logs", json={"execution_id": execution_id}, headers=auth(server)
    )
    # Refused before its first line, a stream is its status (it was a 200 whose last line was
    # the error: tests/integration/test_serve_trial.py).
    assert response.status_code == 404, response.text[:300]
    assert response.json()["error"] == "shipyard.errors:ExecutionNotFound"


def test_ctrl_c_of_a_run_through_the_server_stops_it(server: Served, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    spec = write(tmp_path, SLOW)
    command = [str(Path(sys.executable).with_name("shipyard")), "--server", server.url, "run"]
    env = {**os.environ, "SHIPYARD_HOME": str(server.home), "NO_COLOR": "1"}
    client = subprocess.Popen(
        [*command, str(spec)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    local = shipyard.connect(server.home)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # until its step runs on the server
            active = local.list_executions(active_only=True, name="slow")
            if active and local.status(active[0].id).units[0].state.value == "running":
                break
            time.sleep(0.05)
        client.send_signal(signal.SIGINT)
        _, errors = client.communicate(timeout=60)
        assert client.returncode == 1, errors
        assert local.status(active[0].id).state == ExecutionState.CANCELLED
        # Signalled at once, as a Ctrl-C in this process does: not after stop's 30 s grace.
        asked = [e.data for e in local.events(active[0].id).events if e.action == "stop_requested"]
        assert asked and asked[0].get("grace") == 0, asked
    finally:
        local.close()
