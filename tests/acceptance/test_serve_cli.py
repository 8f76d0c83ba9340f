"""``shipyard serve`` and ``--server`` through the installed command."""

from __future__ import annotations

import json
from pathlib import Path

from tests.acceptance.conftest import Shipyard
from tests.serving import served

REPO = Path(__file__).resolve().parents[2]
OPENAPI = REPO / "docs" / "api" / "openapi.json"
OPENAPI_COORDINATOR = REPO / "docs" / "api" / "openapi-coordinator.json"


def test_the_exported_openapi_document_is_the_apps(shipyard: Shipyard) -> None:
    printed = shipyard("serve", "--openapi")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == OPENAPI.read_text(), (
        "docs/api/openapi.json drifted from the app; regenerate it with: "
        ".venv/bin/shipyard serve --openapi > docs/api/openapi.json"
    )
    document = json.loads(printed.stdout)
    assert "/api/v1/ops/run" in document["paths"] and "/health" in document["paths"]


def test_the_exported_coordinator_document_is_the_apps(shipyard: Shipyard) -> None:
    # serve --db's document: the same app with the coordinator's routes; no database is asked
    # (nothing listens on port 9), so regenerating it needs no PostgreSQL.
    printed = shipyard("serve", "--openapi", "--db", "postgresql://nobody@127.0.0.1:9/none")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == OPENAPI_COORDINATOR.read_text(), (
        "docs/api/openapi-coordinator.json drifted from the app; regenerate it with: "
        ".venv/bin/shipyard serve --openapi --db postgresql:// "
        "> docs/api/openapi-coordinator.json"
    )
    paths = json.loads(printed.stdout)["paths"]
    assert "/api/v1/tasks/query" in paths and "/api/v1/login" in paths
    assert "/api/v1/workers/fetch" in paths and "/api/v1/ops/run" in paths


def test_serve_refuses_what_cannot_work(shipyard: Shipyard, tmp_path: Path) -> None:
    other = shipyard("serve", "--host", "0.0.0.0", "--port", "0")
    assert other.returncode == 2 and "only 127.0.0.1 is served by default" in other.stderr
    assert "--allow-remote" in other.stderr and "Traceback" not in other.stderr
    config = tmp_path / "bad.toml"
    config.write_text("porty = 1\n")
    bad = shipyard("serve", "--config", str(config))
    assert bad.returncode == 2 and "unknown setting" in bad.stderr


def test_a_server_that_is_not_there_is_one_message(shipyard: Shipyard) -> None:
    result = shipyard("--server", "http://127.0.0.1:9", "--token", "t" * 32, "list")
    assert result.returncode == 2
    assert "cannot reach the Shipyard server at http://127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.stderr
    nonsense = shipyard("--server", "nowhere", "status")
    assert nonsense.returncode == 2 and "not a server URL" in nonsense.stderr


def test_the_cli_runs_against_a_server_with_the_same_output(
    shipyard: Shipyard, tmp_path: Path
) -> None:
    spec = tmp_path / "hello.yaml"
    spec.write_text("name: hello\nsteps:\n  greet:\n    run: echo hi there\n")
    with served(tmp_path / "home") as server:
        ran = shipyard("--server", server.url, "run", str(spec))
        assert ran.returncode == 0, ran.stderr
        listed = json.loads(shipyard("--server", server.url, "list", "--json").stdout)
        execution = listed[0]["id"]
        logs = shipyard("--server", server.url, "logs", execution, "greet")
        assert logs.stdout == "hi there\n"
        wrong = shipyard("--server", server.url, "--token", "w" * 32, "status")
        assert wrong.returncode == 2 and "refused the token" in wrong.stderr
    local = shipyard("status", execution, "--json")  # the same home, read in this process
    assert json.loads(local.stdout)["state"] == "succeeded"
