"""The process-compose importer's mappings, each a row: a process-compose snippet → what the
written spec holds once loaded by Shipyard's own loader (or the note naming it as unmapped)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from shipyard.errors import SpecError
from shipyard.formats.importing import import_text
from shipyard.formats.pcroles import role_of
from shipyard.spec.loader import load_spec_text

FILE = Path("/project/process-compose.yaml")


def imported(text: str) -> tuple[Any, list[str]]:
    result = import_text(text, FILE, format="process-compose")
    spec = load_spec_text(result.text, FILE).spec
    return spec, [note.line() for note in result.notes]


def one(process: str, extra: str = "") -> str:
    body = "\n".join("    " + line for line in process.strip().splitlines())
    return f"processes:\n  p:\n{body}\n{extra}"


@pytest.mark.parametrize(
    ("snippet", "check"),
    [
        ("command: echo hi", lambda s: (s.steps["p"].run, s.steps["p"].shell) == ("echo hi", True)),
        ("entrypoint: [echo, hi]", lambda s: s.steps["p"].run == ["echo", "hi"]),
        (
            "command: '[[ -f x ]] && echo y'",
            lambda s: s.steps["p"].run == ["bash", "-c", "[[ -f x ]] && echo y"],
        ),
        ("command: x\nworking_dir: sub", lambda s: s.steps["p"].workdir == "sub"),
        ("command: x\ndescription: d", lambda s: s.steps["p"].description == "d"),
        (
            "command: x\nenvironment: ['A=1', 'B=x=y']",
            lambda s: s.steps["p"].env == {"A": "1", "B": "x=y"},
        ),
        ("command: x\ndisabled: true", lambda s: s.steps["p"].enabled is False),
        ("command: x\nis_disabled: true", lambda s: s.steps["p"].enabled is False),
        (
            "command: x\navailability: {restart: on_failure, max_restarts: 2, backoff_seconds: 3}",
            lambda s: (
                (
                    s.steps["p"].retries.count,
                    s.steps["p"].retries.backoff,
                    s.steps["p"].retries.jitter,
                )
                == (2, 3, False)
            ),
        ),
        (
            "command: x\navailability: {restart: on_failure}",
            lambda s: s.steps["p"].retries.count == 1000,
        ),
        (
            "command: x\navailability: {restart: always, backoff_seconds: 4, max_restarts: 5}",
            lambda s: (
                (
                    s.services["p"].restart.policy,
                    s.services["p"].restart.backoff,
                    s.services["p"].restart.max_backoff,
                    s.services["p"].restart.max_restarts,
                )
                == ("always", 4, 4, 5)
            ),
        ),
        (
            "command: x\navailability: {restart: always, max_restarts: 0}",
            lambda s: s.services["p"].restart.max_restarts == 1_000_000,
        ),
        (
            "command: x\nreadiness_probe: {exec: {command: 'true'}}\n"
            "availability: {restart: on_failure, max_restarts: 2}",
            lambda s: (
                (s.services["p"].restart.policy, s.services["p"].restart.max_restarts)
                == ("on-failure", 2)
            ),
        ),
        ("command: x\nreplicas: 3", lambda s: s.services["p"].replicas == 3),
        (
            "command: x\nreadiness_probe: {exec: {command: 'true'}}",
            lambda s: s.services["p"].health.exec == ["sh", "-c", "true"],
        ),
        (
            "command: x\nreadiness_probe: {http_get: {port: 8300, path: /up}, period_seconds: 2, "
            "failure_threshold: 4}",
            lambda s: (
                (
                    s.services["p"].port,
                    s.services["p"].health.http,
                    s.services["p"].health.interval,
                    s.services["p"].health.failure_threshold,
                )
                == (8300, "/up", 2, 4)
            ),
        ),
        (
            "command: x\nreadiness_probe: {http_get: {port: 8300}}",
            lambda s: s.services["p"].health.interval == 10,
        ),
        (
            "command: x\nreadiness_probe: {http_get: {port: 8300, scheme: https}}",
            lambda s: (
                s.services["p"].health.exec[:2] == ["python3", "-c"]
                and s.services["p"].port is None
            ),
        ),
        (
            "command: x\nreadiness_probe: {exec: {command: 'true'}}\n"
            "shutdown: {signal: 2, timeout_seconds: 7}",
            lambda s: (s.services["p"].stop.signal, s.services["p"].stop.timeout) == ("INT", 7),
        ),
        (
            "command: x\nsuccess_exit_codes: [0, 130]",
            lambda s: s.steps["p"].success_exit_codes == [0, 130],
        ),
        (
            "command: x\nsuccess_exit_codes: [3]\navailability: {restart: always}",
            lambda s: s.services["p"].success_exit_codes == [0, 3],
        ),
        (
            "command: x\nready_log_line: ready to serve",
            lambda s: (
                (s.services["p"].health.log_line, s.services["p"].health.interval)
                == ("ready to serve", 0.1)
            ),
        ),
        (
            "command: x\nready_log_line: up\nliveness_probe: {exec: {command: 'false'}, "
            "period_seconds: 2, failure_threshold: 5}",
            lambda s: (
                s.services["p"].health.log_line == "up"
                and s.services["p"].liveness.exec == ["sh", "-c", "false"]
                and (s.services["p"].liveness.interval, s.services["p"].liveness.failure_threshold)
                == (2, 5)
            ),
        ),
        (  # a liveness probe of another target than readiness: a check of its own
            "command: x\nreadiness_probe: {exec: {command: 'true'}, period_seconds: 1}\n"
            "liveness_probe: {http_get: {port: 8301, path: /live}}",
            lambda s: (
                s.services["p"].health.exec == ["sh", "-c", "true"]
                and s.services["p"].health.interval == 1
                and (s.services["p"].port, s.services["p"].liveness.http) == (8301, "/live")
            ),
        ),
        (  # both on one port: both http checks of the service's port
            "command: x\nreadiness_probe: {http_get: {port: 8302, path: /ready}}\n"
            "liveness_probe: {http_get: {port: 8302, path: /live}, period_seconds: 3}",
            lambda s: (
                (s.services["p"].port, s.services["p"].health.http, s.services["p"].liveness.http)
                == (8302, "/ready", "/live")
                and s.services["p"].liveness.interval == 3
            ),
        ),
        (  # on two ports: the liveness check GETs its own URL
            "command: x\nreadiness_probe: {http_get: {port: 8303}}\n"
            "liveness_probe: {http_get: {port: 8304, path: /live}}",
            lambda s: (
                s.services["p"].port == 8303
                and s.services["p"].liveness.exec[3] == "http://127.0.0.1:8304/live"
            ),
        ),
        (  # a liveness probe alone: started = ready, then its liveness check
            "command: x\nliveness_probe: {exec: {command: 'pgrep x'}}",
            lambda s: (
                s.services["p"].health is None
                and s.services["p"].liveness.exec == ["sh", "-c", "pgrep x"]
            ),
        ),
        (
            "command: x\nreadiness_probe: {exec: {command: 'true'}}\n"
            "shutdown: {command: 'redis-cli shutdown', timeout_seconds: 4}",
            lambda s: (
                (s.services["p"].stop.command, s.services["p"].stop.shell)
                == ("redis-cli shutdown", True)
                and s.services["p"].stop.timeout == 4
            ),
        ),
        (
            "command: x\nshutdown: {command: '[[ -e x ]] && rm x'}",
            lambda s: s.steps["p"].stop.command == ["bash", "-c", "[[ -e x ]] && rm x"],
        ),
        (
            "command: x\nready_log_line: up\navailability: {restart: exit_on_failure}",
            lambda s: (
                s.services["p"].restart.policy == "no"
                and s.execution.on_service_failure == "stop-all"
            ),
        ),
    ],
)
def test_mapping(snippet: str, check: Any) -> None:
    spec, _ = imported(one(snippet))
    assert check(spec), (snippet, spec)


@pytest.mark.parametrize(
    ("snippet", "named"),
    [
        # mapped, with the difference named: no signal after it in process-compose
        ("command: x\nshutdown: {command: 'stop it'}", "processes.p.shutdown.command"),
        (
            "command: x\nreadiness_probe: {exec: {command: 'true'}}\nready_log_line: up",
            "processes.p.ready_log_line",
        ),
        ("command: x\nshutdown: {parent_only: true}", "processes.p.shutdown.parent_only"),
        ("command: x\nnamespace: n", "processes.p.namespace"),
        ("command: x\nschedule: {interval: 30s}", "processes.p.schedule"),
        ("command: x\navailability: {exit_on_end: true}", "processes.p.availability.exit_on_end"),
        ("command: x\nfrobnicate: 1", "processes.p.frobnicate"),
        (
            "command: x\nreadiness_probe: {exec: {command: 'true'}}\ndisabled: true",
            "processes.p.disabled",
        ),
    ],
)
def test_unmapped_keys_are_named(snippet: str, named: str) -> None:
    _, notes = imported(one(snippet, "  other:\n    command: y\n"))
    assert any(line.startswith(named) for line in notes), (named, notes)


def test_project_keys() -> None:
    text = one(
        "command: '{{.PY}} -V'",
        "version: '0.5'\nvars: {PY: python3}\nenvironment: ['A=1']\nlog_level: debug\n",
    )
    spec, notes = imported(text)
    assert spec.steps["p"].run == "{{ PY }} -V"
    assert spec.parameters["PY"].default == "python3"
    assert spec.env == {"A": "1"}
    assert any(n.startswith("version") for n in notes) and any(
        n.startswith("log_level") for n in notes
    )


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("process_started", ("services", "started")),
        ("process_healthy", ("services", "healthy")),
        ("process_log_ready", ("services", "started")),  # dep has no ready_log_line
        ("process_completed_successfully", ("steps", "completed_successfully")),
        ("process_completed", ("steps", "completed_successfully")),
    ],
)
def test_depends_on_conditions(condition: str, expected: tuple[str, str]) -> None:
    text = (
        "processes:\n"
        "  dep:\n    command: x\n"
        f"  svc:\n    command: y\n    availability: {{restart: always}}\n"
        f"    depends_on: {{dep: {{condition: {condition}}}}}\n"
    )
    spec, _ = imported(text)
    kind, wanted = expected
    assert "dep" in getattr(spec, kind), (condition, spec)
    assert spec.services["svc"].depends_on == {"dep": wanted}


@pytest.mark.parametrize(
    ("process", "waited", "role"),
    [
        ({"availability": {"restart": "always"}}, {"process_completed"}, "service"),
        ({}, {"process_healthy"}, "service"),
        ({}, {"process_completed_successfully"}, "step"),
        ({"readiness_probe": {"exec": {}}}, set(), "service"),
        ({"ready_log_line": "x"}, set(), "service"),
        ({"replicas": 2}, set(), "service"),
        ({"availability": {"restart": "on_failure"}}, set(), "step"),
        ({}, set(), "step"),
    ],
)
def test_roles(process: dict[str, Any], waited: set[str], role: str) -> None:
    assert role_of(process, waited).role == role


def test_every_line_is_valid_yaml_with_a_comment_per_mapping() -> None:
    text = one(
        "command: |\n  echo 'a: b' # not a comment\n  echo \"c\"\nenvironment: ['X=yes', 'Y=']"
    )
    result = import_text(text, FILE, format="process-compose")
    data = yaml.safe_load(result.text)
    assert data["steps"]["p"]["run"] == "echo 'a: b' # not a comment\necho \"c\"\n"
    assert data["steps"]["p"]["env"] == {"X": "yes", "Y": ""}
    assert "# command (a shell string)" in result.text


def test_problems_are_at_the_files_own_lines() -> None:
    text = (
        "processes:\n"
        "  a:\n"
        "    command: x\n"
        "    depends_on:\n"
        "      nobody: {condition: process_started}\n"
        "  'b c':\n"
        "    command: '{{.UNDEFINED}}'\n"
    )
    with pytest.raises(SpecError) as caught:
        import_text(text, FILE, format="process-compose")
    lines = {(p.location.line if p.location else 0): p.message for p in caught.value.problems}
    assert "nobody" in lines[5], lines
    assert "'b c'" in lines[6], lines
    assert "UNDEFINED" in lines[7], lines


def test_a_problem_of_the_written_spec_is_at_the_foreign_line() -> None:
    """Shipyard's own checks on the written spec (a probe every 0.01 s) are reported at the
    line of the process-compose key the value came from, not a line of the written text."""
    text = (
        "processes:\n"
        "  web:\n"
        "    command: serve\n"
        "    readiness_probe:\n"
        "      exec: {command: 'true'}\n"
        "      period_seconds: 0.01\n"
    )
    with pytest.raises(SpecError) as caught:
        import_text(text, FILE, format="process-compose")
    (problem,) = caught.value.problems
    assert "too short" in problem.message and "process-compose" in problem.message, problem
    assert problem.location is not None and problem.location.path == FILE, problem
    assert problem.location.line == 4, problem


def test_process_log_ready_waits_for_the_log_line() -> None:
    """process_log_ready on a process with a ready_log_line: a service waits for it healthy
    (its health is that line), a step needs it — neither named as approximate."""
    text = (
        "processes:\n"
        "  db:\n    command: x\n    ready_log_line: ready to accept connections\n"
        "  api:\n    command: y\n    availability: {restart: always}\n"
        "    depends_on: {db: {condition: process_log_ready}}\n"
        "  setup:\n    command: z\n    depends_on: {db: {condition: process_log_ready}}\n"
    )
    spec, notes = imported(text)
    assert spec.services["db"].health.log_line == "ready to accept connections"
    assert spec.services["api"].depends_on == {"db": "healthy"}
    assert spec.steps["setup"].needs == ["db"]
    assert not [n for n in notes if "depends_on.db" in n], notes


@pytest.mark.parametrize(
    ("snippet", "said"),
    [
        ("success_exit_codes: [0, 256]", "success_exit_codes should be a list of exit codes"),
        ("success_exit_codes: 130", "success_exit_codes should be a list of exit codes"),
        ("ready_log_line: 5", "ready_log_line should be text of one log line"),
        ("shutdown: {command: [a, b]}", "shutdown.command should be a shell command"),
    ],
)
def test_bad_new_keys_are_problems_at_their_line(snippet: str, said: str) -> None:
    with pytest.raises(SpecError) as error:
        import_text(one(f"command: x\n{snippet}"), FILE, format="process-compose")
    problems = error.value.problems
    assert len(problems) == 1 and said in problems[0].message, problems
    assert problems[0].location is not None and problems[0].location.line == 4, problems


def test_a_ready_log_line_on_a_step_is_named() -> None:
    """Waited for with process_completed, the process is a step: its ready_log_line has no
    use there, and is named."""
    text = (
        "processes:\n"
        "  p:\n    command: x\n    ready_log_line: up\n"
        "  q:\n    command: y\n    depends_on: {p: {condition: process_completed}}\n"
    )
    spec, notes = imported(text)
    assert "p" in spec.steps
    assert any(n.startswith("processes.p.ready_log_line") for n in notes), notes
