"""The server's pure decisions: settings precedence and checks, error statuses, the CLI's
root server options, arguments decoded from a request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shipyard.errors import (
    Conflict,
    ControlUnavailable,
    DiskFull,
    ExecutionNotFound,
    ParameterError,
    ShipyardError,
    SpecError,
    SpecProblem,
)
from shipyard.server.settings import Settings, load_settings
from shipyard.wire import WireError


def settings(tmp_path: Path, toml: str | None, env: dict[str, str], flags: dict[str, Any]) -> Any:
    config = None
    if toml is not None:
        config = tmp_path / "server.toml"
        config.write_text(toml)
    return load_settings(config, env, flags)


@pytest.mark.parametrize(
    ("toml", "env", "flags", "port"),
    [
        (None, {}, {}, 8420),
        ("port = 9000", {}, {}, 9000),
        ("[server]\nport = 9000", {}, {}, 9000),
        ("port = 9000", {"SHIPYARD_PORT": "9100"}, {}, 9100),
        ("port = 9000", {"SHIPYARD_PORT": "9100"}, {"port": 9200}, 9200),
        (None, {"SHIPYARD_PORT": "9100"}, {"port": None}, 9100),  # a flag not given
        (None, {"SHIPYARD_PORT": ""}, {}, 8420),  # an empty variable counts as unset
    ],
)
def test_flags_beat_the_environment_which_beats_the_file(
    tmp_path: Path, toml: str | None, env: dict[str, str], flags: dict[str, Any], port: int
) -> None:
    assert settings(tmp_path, toml, env, flags).port == port


@pytest.mark.parametrize(
    ("toml", "env", "flags", "says"),
    [
        ("prot = 1", {}, {}, "unknown setting"),
        ("port = 'x'", {}, {}, "is not a int"),
        ("port = true", {}, {}, "not a whole number"),
        ("port = [", {}, {}, "not valid TOML"),
        (None, {"SHIPYARD_PORT": "eighty"}, {}, "SHIPYARD_PORT"),
        (None, {"SHIPYARD_ALLOW_REMOTE": "maybe"}, {}, "yes/no"),
        (None, {}, {"port": 70000}, "outside 0-65535"),
        (None, {}, {"host": "0.0.0.0"}, "only 127.0.0.1 is served by default"),
        (None, {}, {"log_level": "loud"}, "log level"),
        (None, {"SHIPYARD_TOKEN": "short"}, {}, "shorter than 16"),
    ],
)
def test_bad_settings_say_what_and_where(
    tmp_path: Path, toml: str | None, env: dict[str, str], flags: dict[str, Any], says: str
) -> None:
    with pytest.raises(ShipyardError, match=says):
        settings(tmp_path, toml, env, flags)


def test_another_address_needs_allow_remote(tmp_path: Path) -> None:
    chosen = settings(tmp_path, "allow_remote = true", {}, {"host": "0.0.0.0"})
    assert chosen.host == "0.0.0.0" and chosen.allow_remote


def test_a_missing_config_file_is_one_message(tmp_path: Path) -> None:
    with pytest.raises(ShipyardError, match="cannot read the server settings"):
        load_settings(tmp_path / "absent.toml", {}, {})


def test_the_coordinator_table_is_handed_on(tmp_path: Path) -> None:
    chosen = settings(tmp_path, "[coordinator]\nlease = 30\n", {}, {})
    assert chosen.coordinator == {"lease": 30} and isinstance(chosen, Settings)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ExecutionNotFound("no execution 'x'"), 404),
        (ShipyardError("pipeline 'p' not found"), 404),
        (SpecError([SpecProblem("bad")]), 422),
        (ParameterError("count: not an int"), 422),
        (WireError("argument x does not fit"), 422),
        (ControlUnavailable("its supervisor does not answer"), 409),
        (DiskFull("no space left"), 503),
        (ShipyardError("anything else a user can cause"), 400),
        (Conflict("the task runs already: it cannot be edited"), 409),  # its own http_status
    ],
)
def test_each_error_has_its_status(error: ShipyardError, status: int) -> None:
    from shipyard.server.app import error_status

    assert error_status(error) == status


@pytest.mark.parametrize(
    ("argv", "left", "env"),
    [
        (["status"], ["status"], {}),
        (["--server", "http://h:1", "status"], ["status"], {"SHIPYARD_SERVER": "http://h:1"}),
        (["--server=http://h:1", "list"], ["list"], {"SHIPYARD_SERVER": "http://h:1"}),
        (
            ["--server", "http://h:1", "--token", "t", "ps"],
            ["ps"],
            {"SHIPYARD_SERVER": "http://h:1", "SHIPYARD_TOKEN": "t"},
        ),
        (["--server"], ["--server"], {}),  # its value missing: Typer says so
        (["run", "--server", "x"], ["run", "--server", "x"], {}),  # only before the command
    ],
)
def test_the_root_server_options_become_the_environment(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], left: list[str], env: dict[str, str]
) -> None:
    import os

    from shipyard.cli.main import server_options

    for name in ("SHIPYARD_SERVER", "SHIPYARD_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert server_options(list(argv)) == left
    seen = {
        name: os.environ[name]
        for name in ("SHIPYARD_SERVER", "SHIPYARD_TOKEN")
        if name in os.environ
    }
    assert seen == env


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("status", {"execution_id": 3}, "does not fit"),
        ("status", {"nope": 1}, "unknown argument nope"),
        ("stop", {}, "missing argument execution_id"),
        ("plan", {"spec": "s.yaml", "mode": "fast"}, "not one of normal"),
        ("list_executions", {"limit": "ten"}, "does not fit"),
    ],
)
def test_request_arguments_that_do_not_fit_are_wire_errors(
    name: str, data: dict[str, Any], says: str
) -> None:
    from shipyard.server.app import arguments_of, signature_of

    signature, hints = signature_of(name)
    with pytest.raises(WireError, match=says):
        arguments_of(name, signature, hints, data)


@pytest.mark.parametrize(
    ("name", "data", "detach"),
    [
        ("run", {"spec": "s.yaml"}, True),  # would hold the request till the run ends
        ("run", {"spec": "s.yaml", "hold": True}, None),  # held: returns at once
        ("start", {"execution_id": "e"}, True),
        ("sweep", {"spec": "s.yaml"}, True),
        ("status", {"execution_id": "e"}, None),
    ],
)
def test_operations_that_drive_an_execution_start_it_detached(
    name: str, data: dict[str, Any], detach: bool | None
) -> None:
    from shipyard.server.app import arguments_of, signature_of

    signature, hints = signature_of(name)
    assert arguments_of(name, signature, hints, data).get("detach") is detach


def test_db_is_refused_until_the_coordinator_has_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    from shipyard.server import app

    assert app.coordinator_routers(Settings()) == []  # no --db: the local server only
    monkeypatch.setattr(app, "COORDINATOR_ROUTES", "shipyard.coordinator.not_there")
    with pytest.raises(ShipyardError, match="not built yet"):
        app.coordinator_routers(Settings(db="postgresql://127.0.0.1/x"))


def test_the_client_resolves_every_operation_of_the_protocol() -> None:
    # RemoteOperations forwards by name: each member must bind and resolve its hints (a new
    # operation whose hints name a type neither api.py nor the wire knows fails here).
    from shipyard.remote import RemoteOperations, _signature
    from shipyard.wire import operation_names

    remote = RemoteOperations("http://127.0.0.1:1", token="t" * 32)
    try:
        for name in operation_names():
            signature, hints = _signature(name)
            assert "return" in hints and "self" in signature.parameters
            assert callable(getattr(remote, name))
    finally:
        remote.close()
