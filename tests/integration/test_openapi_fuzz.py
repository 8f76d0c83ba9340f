"""Schemathesis against the served OpenAPI documents (issue 13 §6): a real ``shipyard serve`` on
127.0.0.1 — the local one over an SQLite home with a run in it, and the coordinator over the
throwaway PostgreSQL with an administrator's and a worker's tokens — fuzzed through its own
``/openapi.json`` by the schemathesis command (a subprocess: the same tool a user would run),
with two checks: no response is a 5xx, and every response fits the schema its route declares.

A bounded number of examples per operation and a fixed seed keep each run to well under a
minute on two cores and the same from run to run. Nothing is excluded silently: the
coordinator's routes are fuzzed in three passes (below, with why), and the local operations
a ``serve --db`` also serves are the local server's, fuzzed in the first test. The two streams
(``POST /api/v1/ops/logs``, NDJSON; ``GET /api/v1/executions/{id}/logs``, server-sent events)
are called like the rest, but schemathesis cannot parse their bodies: only their status counts.

Below them, one regression test per fault schemathesis found, each through the real server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.test_coordinator_routes import (
    Served,
    _env,
    _shipyard,
    serve_db,
)
from tests.integration.test_coordinator_routes import served as coordinator  # noqa: F401
from tests.postgres import pg_cluster, pg_url  # noqa: F401  (fixtures)
from tests.serving import _executable, _url, _wait_healthy, served

#: Examples per operation in the fuzzing phase (the coverage phase adds its own boundary cases).
EXAMPLES = 5
SEED = "20261202"
CHECKS = "not_a_server_error,response_schema_conformance"

#: The routes that revoke or demote the calling administrator (by design: a password change
#: stops every older token of the user). Fuzzed last, in a pass of their own, so that what they
#: do to the token cannot turn the rest of the coordinator's run into 401s.
REVOKING = (
    ("POST", "/api/v1/me/password"),
    ("POST", "/api/v1/users/{name}/password"),
    ("PUT", "/api/v1/users/{name}/admin"),
)
#: The coordinator's routes a user's token calls, by their tags in the document.
USER_TAGS = ("users and groups", "tasks", "suites")
#: The routes a worker token calls (every other coordinator route refuses it, 403).
WORKER_ROUTES = r"^/api/v1/(workers/|tasks/\{uuid\}/artifacts/\{name\}$)"


def _schemathesis(url: str, token: str, *filters: str, cwd: Path) -> str:
    """Run schemathesis against ``url``'s document; its report, asserted free of failures."""
    command = Path(sys.executable).with_name("st")
    assert command.exists(), "schemathesis is not installed: pip install -e '.[dev]'"
    env = {key: value for key, value in os.environ.items() if not key.startswith("SHIPYARD_")}
    done = subprocess.run(
        [str(command), "run", f"{url}/openapi.json", "-H", f"Authorization: Bearer {token}",
         "--checks", CHECKS, "--max-examples", str(EXAMPLES), "--seed", SEED, "--workers", "1",
         "--phases", "examples,coverage,fuzzing", "--request-timeout", "60", *filters],
        capture_output=True, text=True, timeout=600, cwd=cwd, env=env | {"NO_COLOR": "1"},
    )  # fmt: skip
    report = done.stdout + done.stderr
    assert "Tested:" in report, f"schemathesis did not run:\n{report}"
    assert done.returncode == 0, f"schemathesis found failures against {url}:\n{report}"
    return report


def _run_tiny(folder: Path, home: Path) -> str:
    """A run of one step in ``home`` (through the CLI); its execution id."""
    spec = folder / "tiny.yaml"
    spec.write_text("name: tiny\nsteps:\n  hello:\n    run: [echo, hi]\n")
    ran = subprocess.run(
        [_executable(), "run", str(spec), "--json"], capture_output=True, text=True,
        env=_env(home), cwd=folder, timeout=120,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    return str(json.loads(ran.stdout)["id"])


def _operations_by_tag(document: dict[str, Any]) -> dict[str, set[tuple[str, str]]]:
    found: dict[str, set[tuple[str, str]]] = {}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for tag in operation.get("tags", []):
                found.setdefault(tag, set()).add((method, path))
    return found


def _tested(report: str) -> int:
    """How many operations the run tested (so a filter that selects nothing is seen)."""
    for line in report.splitlines():
        if line.strip().startswith("Tested:"):
            return int(line.split(":")[1])
    raise AssertionError(f"no 'Tested:' line in the report:\n{report}")


@pytest.mark.slow
@pytest.mark.timeout(600)  # the whole fuzz; each request has its own timeout
def test_the_local_server_answers_no_5xx_and_fits_its_schema(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _run_tiny(tmp_path, home)
    with served(home) as server:
        report = _schemathesis(server.url, server.token, cwd=tmp_path)
        log = server.log
    assert _tested(report) >= 70, report  # every operation of the document
    assert "Traceback" not in log.read_text(), log.read_text()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_coordinator_answers_no_5xx_and_fits_its_schema(
    pg_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    assert _shipyard(home, "db", "upgrade", "--db", pg_url).returncode == 0
    assert (
        _shipyard(home, "admin", "create-user", "fuzzer", "--admin", "--db", pg_url).returncode == 0
    )
    settings = tmp_path / "settings.toml"
    # A fetch may wait at most 1 s: a fuzzed wait holds a server thread no longer than that.
    settings.write_text("[coordinator]\nmax_fetch_wait = 1\n")
    with serve_db(home, pg_url, "--config", str(settings)) as process:
        log = tmp_path / "server.log"
        url = _url(process, log)
        _wait_healthy(url, process, log, 30)
        with httpx.Client(base_url=url, timeout=30) as http:
            server = Served(url, http, log)
            admin = server.login("fuzzer")
            assert http.post("/api/v1/groups", json={"name": "lab"}, headers=admin).is_success
            issued = http.post("/api/v1/groups/lab/workers", headers=admin).json()
            queued = http.post(
                "/api/v1/tasks", json={"group": "lab", "command": ["true"]}, headers=admin
            )
            assert queued.is_success, queued.text
        token = admin["Authorization"].removeprefix("Bearer ")
        coordinator_tags = [flag for tag in USER_TAGS for flag in ("--include-tag", tag)]
        # 1. The worker's routes with its token (first: the user pass may revoke it).
        worker = _schemathesis(
            url, issued["token"], "--include-path-regex", WORKER_ROUTES,
            "--exclude-method", "GET", cwd=tmp_path,
        )  # fmt: skip
        # 2. The users', groups' and tasks' routes with the administrator's token.
        revoking = [flag for method, path in REVOKING for flag in ("--exclude-path", path)]
        users = _schemathesis(url, token, *coordinator_tags, *revoking, cwd=tmp_path)
        # 3. Last, the routes that may revoke or demote that administrator.
        last = [flag for method, path in REVOKING for flag in ("--include-path", path)]
        final = _schemathesis(url, token, *last, cwd=tmp_path)
        document = httpx.get(f"{url}/openapi.json").json()
    # Every operation of the coordinator's tags was tested, in one pass or another.
    tags = _operations_by_tag(document)
    assert _tested(final) == len(REVOKING)
    user_operations = set().union(*(tags.get(tag, set()) for tag in USER_TAGS))
    assert _tested(users) == len(user_operations) - len(REVOKING)
    assert _tested(worker) == len(tags["workers"]) + 1  # and the artifact upload (tasks)
    assert "Traceback" not in log.read_text(), log.read_text()


# -- what schemathesis found, each fixed and kept fixed -------------------------------------------


def test_a_query_for_no_creators_is_no_tasks_not_a_500(coordinator: Served) -> None:  # noqa: F811
    # An empty list bound as SQLAlchemy's expanding IN was typed INTEGER against users.name:
    # PostgreSQL refused the statement and the route answered 500.
    root = coordinator.login("root")
    assert coordinator.http.post("/api/v1/groups", json={"name": "lab"}, headers=root).is_success
    queued = coordinator.http.post(
        "/api/v1/tasks", json={"group": "lab", "command": ["true"]}, headers=root
    )
    assert queued.is_success, queued.text
    answer = coordinator.http.post("/api/v1/tasks/query", json={"creators": []}, headers=root)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"count": 0, "tasks": []}
    mine = coordinator.http.post("/api/v1/tasks/query", json={"creators": ["root"]}, headers=root)
    assert mine.json()["count"] == 1, mine.text


def test_a_creator_name_with_a_nul_matches_no_task_not_a_500(coordinator: Served) -> None:  # noqa: F811
    # PostgreSQL's text cannot hold NUL: binding such a name raised DataError, answered 500.
    root = coordinator.login("root")
    body = {"creators": ["ro\x00ot", "root"], "count": True}
    answer = coordinator.http.post("/api/v1/tasks/query", json=body, headers=root)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"count": 0, "tasks": []}


def _ask(http: httpx.Client, method: str, url: str, **given: Any) -> tuple[int, Any]:
    """The status and JSON body of a request; a connection the server dropped is (0, why)."""
    try:
        answer = http.request(method, url, **given)
    except httpx.TransportError as error:
        return 0, f"no answer: {error!r}"
    try:
        return answer.status_code, answer.json()
    except ValueError:
        return answer.status_code, answer.text


def test_bad_input_to_the_local_server_is_a_4xx_in_the_error_shape(tmp_path: Path) -> None:
    # Each was a 500 (ValueError: embedded null byte from a path, RecursionError from the JSON
    # parser, OverflowError from SQLite) or FastAPI's {"detail": …} in place of the
    # {msg, hint, error} the document says.
    ran = _run_tiny(tmp_path, tmp_path / "home")
    with served(tmp_path / "home") as server:
        headers = {"Authorization": f"Bearer {server.token}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as http:
            answers = {
                "NUL in a spec path": _ask(http, "POST", "/api/v1/ops/run",
                                           json={"spec": "a\x00.yaml"}),
                "NUL in a folder": _ask(http, "POST", "/api/v1/ops/agent_status",
                                        json={"folder": "/tmp\x00", "name": "a"}),
                "NUL in a query": _ask(http, "GET", "/api/v1/agents",
                                       params={"folder": "/tmp\x00"}),
                "NUL in a text naming a file": _ask(http, "POST", "/api/v1/ops/analyze",
                                                    json={"execution_id": ran, "html": "a\x00"}),
                "NUL in an id": _ask(http, "POST", "/api/v1/ops/status",
                                     json={"execution_id": "exec\x00nul"}),
                "deep JSON": _ask(http, "POST", "/api/v1/ops/status", content=b"[" * 100_000),
                "a cursor past 64 bits": _ask(http, "POST", "/api/v1/ops/events",
                                              json={"execution_id": ran, "after": 10**22}),
                "a cursor past 64 bits (REST)": _ask(http, "GET",
                                                     f"/api/v1/executions/{ran}/events",
                                                     params={"after": str(10**22)}),
                "no such route": _ask(http, "GET", "/api/v1/nowhere"),
                "no such method": _ask(http, "DELETE", "/health"),
            }  # fmt: skip
        log = server.log.read_text()
    statuses = {what: status for what, (status, _) in answers.items()}
    assert statuses == {
        "NUL in a spec path": 422,
        "NUL in a folder": 422,
        "NUL in a query": 422,
        "NUL in a text naming a file": 422,
        "NUL in an id": 404,  # merely no execution's (test_server.py's hostile ids)
        "deep JSON": 422,
        "a cursor past 64 bits": 422,  # SQLite's OverflowError: was a 500
        "a cursor past 64 bits (REST)": 422,
        "no such route": 404,
        "no such method": 405,
    }, answers
    for what, (_, body) in answers.items():
        assert isinstance(body, dict) and set(body) >= {"msg", "hint", "error"}, (what, body)
    assert "contains a NUL character" in answers["NUL in a folder"][1]["msg"]
    assert "Traceback" not in log, log


def test_the_documents_say_what_a_refusal_and_an_alias_answer() -> None:
    # Were FastAPI's 422 {"detail": [...]} (never sent) and an untyped 200 for the REST
    # aliases: nothing a schema check could hold the answers to.
    from shipyard.server.run import openapi_document
    from shipyard.server.settings import Settings

    document = json.loads(openapi_document(Settings()))
    error = {"$ref": "#/components/schemas/Error"}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            refusals = {c: r for c, r in operation["responses"].items() if c.startswith("4")}
            assert "4XX" in refusals, f"{method} {path}"
            for code, response in refusals.items():
                schema = response["content"]["application/json"]["schema"]
                assert schema == error, f"{method} {path} {code}: {schema}"
    assert "HTTPValidationError" not in json.dumps(document)
    status = document["paths"]["/api/v1/executions/{execution_id}"]["get"]["responses"]["200"]
    assert status["content"]["application/json"]["schema"]["$ref"].endswith("/ExecutionStatus")


def test_the_served_coordinators_refusals_say_the_scheme_and_when_to_come_back(
    coordinator: Served,  # noqa: F811
) -> None:
    # Served by shipyard serve --db, the coordinator's 401 lost its WWW-Authenticate and its
    # 429 its Retry-After (the server's error handler answered the body only).
    missing = coordinator.http.get("/api/v1/me")
    assert missing.status_code == 401, missing.text
    assert missing.headers.get("www-authenticate") == "Bearer", dict(missing.headers)
    wrong = {"name": "root", "password": "not the password"}
    answers = [coordinator.http.post("/api/v1/login", json=wrong) for _ in range(12)]
    throttled = [answer for answer in answers if answer.status_code == 429]
    assert throttled, [answer.status_code for answer in answers]
    assert throttled[0].headers.get("retry-after", "").isdigit(), dict(throttled[0].headers)
