"""Specs that `validate` used to accept and `plan`/`run` then crashed on (issue 8, items 7-9),
driven through the installed command: every one is refused by validate, plan and run alike,
with file:line and the reason, no traceback, and no run folder left behind."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.acceptance.conftest import Shipyard

# (spec, what the message must say, its line)
HOSTILE: dict[str, tuple[str, str, int]] = {
    "unclosed-quote": (
        """
        name: h
        steps:
          a:
            run: "echo 'abc"
        """,
        "cannot be split into words: no closing quotation",
        4,
    ),
    "blank-command": ("name: h\nsteps:\n  a:\n    run: '   '\n", "the command is empty", 4),
    "empty-program": ("name: h\nsteps:\n  a:\n    run: ['']\n", "is empty", 4),
    "nul-in-argv": (
        'name: h\nsteps:\n  a:\n    run: [echo, "a\\0b"]\n',
        "contains a NUL byte",
        4,
    ),
    "nul-in-env": (
        'name: h\nsteps:\n  a:\n    run: [true]\n    env: {X: "\\0"}\n',
        "contains a NUL byte",
        5,
    ),
    "nul-in-parameter": (
        'name: h\nparameters: {x: "a\\0"}\nsteps:\n  a: {run: [echo, "{{ x }}"]}\n',
        "contains a NUL byte",
        2,
    ),
    "env-key-with-equals": (
        "name: h\nsteps:\n  a:\n    run: [true]\n    env: {'A=B': x}\n",
        "which holds '='",
        5,
    ),
    "empty-env-key": (
        "name: h\nsteps:\n  a:\n    run: [true]\n    env: {'': x}\n",
        "an empty name",
        5,
    ),
    "service-shell-list": (
        "name: h\nservices:\n  w: {run: [sleep, '9'], shell: true}\n",
        "says 'shell: true' but 'run' is a list",
        3,
    ),
    "step-named-like-a-replica": (
        """
        name: h
        steps:
          web-1: {run: ['true']}
        services:
          web: {run: [sleep, '9'], replicas: 2, port: auto}
        """,
        "step 'web-1' and service 'web' (its replica 'web-1') would both run as 'web-1'",
        5,
    ),
    "service-named-like-a-replica": (
        """
        name: h
        services:
          web: {run: [sleep, '9'], replicas: 2, port: auto}
          web-1: {run: [sleep, '9']}
        """,
        "would both run as 'web-1'",
        4,
    ),
    "parameters-differing-in-case": (
        "name: h\nparameters: {foo: 1, FOO: 2}\nsteps:\n  a: {run: [env]}\n",
        "parameters 'foo' and 'FOO' would both be passed as $SHIPYARD_PARAM_FOO",
        2,
    ),
    "services-sharing-a-url-variable": (
        """
        name: h
        services:
          web-a: {run: [sleep, '9'], port: auto}
          web_a: {run: [sleep, '9'], port: auto}
        """,
        "$SHIPYARD_URL_WEB_A",
        4,
    ),
    "merge-key": (
        "name: h\nsteps:\n  a: &a {run: ['true']}\n  b:\n    <<: *a\n",
        "YAML merge keys ('<<:') are not supported",
        5,
    ),
    "probe-interval-zero": (
        "name: h\nservices:\n  w:\n    run: [sleep, '9']\n    health: {tcp: true, interval: 0}\n",
        "interval 0ms is too short",
        5,
    ),
    "restart-storm": (
        "name: h\nservices:\n  w:\n    run: ['false']\n    restart: {reset_after: 0}\n",
        "reset_after 0ms is too short",
        5,
    ),
}


@pytest.mark.parametrize("command", ["validate", "plan", "run"])
@pytest.mark.parametrize("case", list(HOSTILE))
def test_refused_with_its_place_and_no_traceback(
    shipyard: Shipyard, tmp_path: Path, case: str, command: str
) -> None:
    text, fragment, line = HOSTILE[case]
    spec = tmp_path / f"{case}.yaml"
    spec.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    result = shipyard(command, str(spec), timeout=30)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output
    assert fragment in output, output
    assert f"{spec}:{line}:" in output, output
    assert "hint:" in output, output
    # Refused before anything ran: no run folder without a record.
    runs = tmp_path / "home" / "runs"
    assert not runs.exists() or not any(runs.iterdir()), list(runs.iterdir())


def test_a_parameter_that_empties_the_program_is_refused_at_plan(
    shipyard: Shipyard, tmp_path: Path
) -> None:
    spec = tmp_path / "tool.yaml"
    spec.write_text("name: h\nparameters: {tool: echo}\nsteps:\n  a: {run: ['{{ tool }}', hi]}\n")
    assert shipyard("validate", str(spec)).returncode == 0
    for command in ("plan", "run"):
        result = shipyard(command, str(spec), "-p", "tool=")
        assert result.returncode == 2, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        assert "step 'a' has no program to run once its parameters are substituted" in (
            result.stderr
        )


def test_a_workdir_that_is_a_file_is_named_as_such(shipyard: Shipyard, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("a file, not a folder\n")
    spec = tmp_path / "wd.yaml"
    spec.write_text("name: h\nsteps:\n  a: {run: ['true'], workdir: notes.txt}\n")
    result = shipyard("run", str(spec))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "notes.txt is not a folder" in result.stdout
    assert "does not exist" not in result.stdout
    status = shipyard("status", "--json")
    assert "is not a folder" in status.stdout, status.stdout
