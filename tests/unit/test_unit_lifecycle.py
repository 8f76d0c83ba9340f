"""What issue 17 §4 added to a unit's life, as pure decisions and spec checks: success exit
codes (exit code -> outcome, restart decision), log-line readiness, a separate liveness check
and a stop command — each refused at its file:line when written wrong."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from shipyard.engine.health import LogWatch
from shipyard.engine.process import ExitStatus
from shipyard.engine.restarts import RestartDecision, decide_restart
from shipyard.engine.retries import judge_exit
from shipyard.errors import SpecError, SpecProblem
from shipyard.models import UnitState
from shipyard.plan.build import build_plan
from shipyard.plan.model import RestartSettings
from shipyard.spec.loader import load_spec_text


def low(lo: float, hi: float) -> float:
    return lo


def problems_of(text: str) -> list[SpecProblem]:
    with pytest.raises(SpecError) as error:
        load_spec_text(textwrap.dedent(text).lstrip("\n"), Path("/specs/life.yaml"))
    return error.value.problems


def line_of(problem: SpecProblem) -> int:
    assert problem.location is not None, problem
    return problem.location.line


# -- success exit codes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "codes", "succeeded"),
    [
        (ExitStatus(0, None, 0.0), [0], True),
        (ExitStatus(130, None, 0.0), [0], False),
        (ExitStatus(130, None, 0.0), [0, 130], True),
        (ExitStatus(0, None, 0.0), [130], False),  # 0 is a success only when listed
        (ExitStatus(3, None, 0.0), [0, 130], False),
        # Killed by SIGINT is not "exit code 130": a signal is never a success.
        (ExitStatus(None, "INT", 0.0), [0, 130], False),
        (ExitStatus(None, None, 0.0), [0], False),  # reaped elsewhere: unknown
    ],
)
def test_an_exit_code_is_a_success_when_listed(
    status: ExitStatus, codes: list[int], succeeded: bool
) -> None:
    assert status.succeeded(codes) is succeeded
    verdict = judge_exit(
        ok=status.succeeded(codes),
        described=status.describe(),
        cancel_reason=None,
        timed_out=False,
        timeout=None,
    )
    assert verdict.state == (UnitState.SUCCEEDED if succeeded else UnitState.FAILED)


@pytest.mark.parametrize(
    ("policy", "code", "codes", "expected"),
    [
        ("on-failure", 130, [0, 130], RestartDecision(None, 0)),  # a success: stays down
        ("on-failure", 130, [0], RestartDecision(1.0, 1)),  # a failure: restarted
        ("on-failure", 0, [130], RestartDecision(1.0, 1)),  # 0 not listed: a failure
        ("always", 130, [0, 130], RestartDecision(1.0, 1)),  # always restarts anyway
        ("no", 3, [0], RestartDecision(None, 0)),
    ],
)
def test_restart_policy_on_failure_takes_a_listed_code_as_success(
    policy: str, code: int, codes: list[int], expected: RestartDecision
) -> None:
    decision = decide_restart(
        RestartSettings(policy=policy),
        exit_ok=ExitStatus(code, None, 0.0).succeeded(codes),
        uptime=5.0,
        streak=0,
        uniform=low,
    )
    assert decision == expected


def test_success_exit_codes_reach_the_plan_sorted_and_default_to_zero() -> None:
    loaded = load_spec_text(
        textwrap.dedent(
            """
            name: codes
            steps:
              a: {run: [sh, -c, "exit 130"], success_exit_codes: [130, 0]}
              b: {run: [true]}
            services:
              s: {run: [sleep, "9"], success_exit_codes: 2}
            """
        ),
        Path("/specs/codes.yaml"),
    )
    plan = build_plan(loaded, {}, cores=2)
    assert plan.step("a").success_exit_codes == [0, 130]
    assert plan.step("b").success_exit_codes == [0]
    assert plan.service("s").success_exit_codes == [2]


@pytest.mark.parametrize(
    ("codes", "said"),
    [
        ("[0, 256]", "exit code 256 is not a whole number from 0 to 255"),
        ("[-1]", "exit code -1 is not"),
        ("[0, x]", "exit code 'x' is not"),
        ("[true]", "exit code True is not"),
        ("[1.5]", "exit code 1.5 is not"),
        ("[]", "success_exit_codes is empty"),
    ],
)
def test_bad_success_exit_codes_are_refused_at_their_line(codes: str, said: str) -> None:
    found = problems_of(
        f"""
        name: codes
        steps:
          a:
            run: [true]
            success_exit_codes: {codes}
        """
    )
    assert len(found) == 1, found
    assert said in found[0].message, found[0].message
    assert line_of(found[0]) == 5
    assert found[0].hint is not None and "[0, 130]" in found[0].hint


# -- log-line readiness -----------------------------------------------------------------------


def test_a_log_line_is_seen_once_written_after_the_start(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"an earlier start said: ready to serve\n")
    watch = LogWatch.from_start(str(log), "ready to serve")
    assert not watch.check().ok, "a line of an earlier start (before the offset) counted"
    with log.open("ab") as out:
        out.write(b"booting\nready to ")
    assert not watch.check().ok  # half of it so far
    with log.open("ab") as out:
        out.write(b"serve on 8080\n")
    result = watch.check()
    assert result.ok and "ready to serve" in result.detail, result
    log.write_bytes(b"")  # rotated away: it stays seen for this start
    assert watch.check().ok


def test_a_log_line_split_across_reads_is_found(tmp_path: Path) -> None:
    """The text straddles the boundary of two 64 KiB chunks of one read."""
    log = tmp_path / "app.log"
    log.write_bytes(b"x" * (65536 - 3) + b"READY now\n")
    assert LogWatch(str(log), "READY").check().ok


@pytest.mark.parametrize(
    ("written", "ok"),
    [
        (b"ready\n", True),
        (b"all ready!", True),  # no newline yet: the line is there
        (b"rea\ndy\n", False),  # never across lines
        (b"READY\n", False),  # case counts
        (b"", False),
    ],
)
def test_what_counts_as_the_line(tmp_path: Path, written: bytes, ok: bool) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(written)
    assert LogWatch(str(log), "ready").check().ok is ok


def test_a_rotated_log_is_read_from_its_start(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"a" * 1000)
    watch = LogWatch.from_start(str(log), "ready")
    log.write_bytes(b"ready\n")  # emptied and written again: smaller than the offset
    assert watch.check().ok


def test_a_missing_log_is_not_ready_yet(tmp_path: Path) -> None:
    assert not LogWatch.from_start(str(tmp_path / "none.log"), "ready").check().ok


@pytest.mark.parametrize(
    ("health", "said", "line"),
    [
        ('{log_line: "a\\nb"}', "spans lines", 5),
        ("{log_line: ready, tcp: true}", "exactly one probe", 5),
        ('{log_line: ""}', "at least 1 character", 5),
    ],
)
def test_a_bad_log_line_check_is_refused_at_its_line(health: str, said: str, line: int) -> None:
    found = problems_of(
        f"""
        name: logs
        services:
          app:
            run: [sleep, "9"]
            health: {health}
        """
    )
    assert len(found) == 1, found
    assert said in found[0].message, found[0].message
    assert line_of(found[0]) == line, found[0]


def test_a_canary_is_not_judged_by_a_log_line() -> None:
    found = problems_of(
        """
        name: logs
        services:
          app:
            run: [sleep, "9"]
            port: auto
            health: {log_line: ready}
            rollout: {}
        """
    )
    assert len(found) == 1 and "log line" in found[0].message, found


def test_a_log_line_takes_parameters() -> None:
    loaded = load_spec_text(
        textwrap.dedent(
            """
            name: logs
            parameters: {word: ready}
            services:
              app: {run: [sleep, "9"], health: {log_line: "{{ word }} to serve"}}
            """
        ),
        Path("/specs/logs.yaml"),
    )
    health = build_plan(loaded, {}, cores=2).service("app").health
    assert health is not None and health.log_line == "ready to serve"


# -- a separate liveness check ----------------------------------------------------------------


def test_a_liveness_check_reaches_the_plan_beside_health() -> None:
    loaded = load_spec_text(
        textwrap.dedent(
            """
            name: live
            parameters: {probe: ./alive}
            services:
              app:
                run: [sleep, "9"]
                port: auto
                health: {log_line: ready}
                liveness: {exec: ["{{ probe }}"], interval: 5s, failure_threshold: 2}
            """
        ),
        Path("/specs/live.yaml"),
    )
    service = build_plan(loaded, {}, cores=2).service("app")
    assert service.health is not None and service.health.log_line == "ready"
    assert service.liveness is not None
    assert service.liveness.exec == ["./alive"] and service.liveness.interval == 5.0
    assert service.liveness.failure_threshold == 2


def test_a_log_line_cannot_be_a_liveness_check() -> None:
    found = problems_of(
        """
        name: live
        services:
          app:
            run: [sleep, "9"]
            liveness: {log_line: ready}
        """
    )
    assert len(found) == 1, found
    assert "a log line tells readiness only" in found[0].message, found[0].message
    assert found[0].hint is not None and "put log_line under health:" in found[0].hint


def test_a_liveness_check_is_checked_as_a_health_check_is() -> None:
    found = problems_of(
        """
        name: live
        services:
          app:
            run: [sleep, "9"]
            liveness: {tcp: true, interval: 0s}
        """
    )
    assert len(found) == 1 and "liveness.interval: interval 0ms is too short" in found[0].message, (
        found
    )
    assert line_of(found[0]) == 5


# -- a stop command ---------------------------------------------------------------------------


def test_a_stop_command_is_resolved_as_a_run_is() -> None:
    loaded = load_spec_text(
        textwrap.dedent(
            """
            name: stops
            parameters: {socket: /tmp/my app.sock}
            steps:
              s: {run: [sleep, "9"], stop: {command: [ctl, --socket, "{{ socket }}", quit]}}
            services:
              a: {run: [sleep, "9"], stop: {command: "ctl stop {{ socket }}", timeout: 3s}}
              b: {run: [sleep, "9"], stop: {command: "ctl stop {{ socket }} && sync", shell: true}}
              c: {run: [sleep, "9"]}
            """
        ),
        Path("/specs/stops.yaml"),
    )
    plan = build_plan(loaded, {}, cores=2)
    step = plan.step("s").stop.command
    assert step is not None and step.argv == ["ctl", "--socket", "/tmp/my app.sock", "quit"]
    split = plan.service("a").stop
    assert split.command is not None and split.timeout == 3.0
    assert split.command.argv == ["ctl", "stop", "/tmp/my app.sock"]
    shell = plan.service("b").stop.command
    assert shell is not None and shell.shell
    assert shell.argv == ["/bin/sh", "-c", "ctl stop '/tmp/my app.sock' && sync"]
    assert plan.service("c").stop.command is None


@pytest.mark.parametrize(
    ("stop", "said", "line"),
    [
        ("{command: [ctl, stop], shell: true}", "says 'shell: true' but 'command' is a list", 5),
        ("{shell: true}", "has no command", 5),
        ('{command: "ctl \'stop"}', "cannot be split into words", 5),
        ("{command: []}", "the command is an empty list", 5),
    ],
)
def test_a_bad_stop_command_is_refused_at_its_line(stop: str, said: str, line: int) -> None:
    found = problems_of(
        f"""
        name: stops
        services:
          app:
            run: [sleep, "9"]
            stop: {stop}
        """
    )
    assert len(found) == 1, found
    assert said in found[0].message, found[0].message
    assert line_of(found[0]) == line


def test_a_stop_command_is_refused_on_another_machine() -> None:
    found = problems_of(
        """
        name: stops
        hosts: [node1]
        steps:
          s:
            run: [sleep, "9"]
            runner: ssh
            stop: {command: [ctl, stop]}
        """
    )
    assert len(found) == 1, found
    assert "a stop command runs on this machine, not with runner ssh" in found[0].message


def test_plan_shows_the_readiness_and_the_liveness_check() -> None:
    from shipyard.cli.render import _health

    loaded = load_spec_text(
        textwrap.dedent(
            """
            name: live
            services:
              a: {run: [sleep, "9"], health: {log_line: listening on}, liveness: {tcp: true}}
              b: {run: [sleep, "9"], liveness: {exec: [./alive]}}
              c: {run: [sleep, "9"], health: {log_line: up}}
            """
        ),
        Path("/specs/live.yaml"),
    )
    plan = build_plan(loaded, {}, cores=2)
    assert _health(plan.service("a")) == "log line 'listening on'; liveness tcp"
    assert _health(plan.service("b")) == "started = healthy; liveness exec ./alive"
    assert _health(plan.service("c")) == "log line 'up'"


@pytest.mark.parametrize(
    ("unit", "line"),
    [
        ('{run: [sleep, "9"], health: {log_line: "{{ nope }} up"}}', 3),
        ('{run: [sleep, "9"], liveness: {exec: [check, "{{ nope }}"]}}', 3),
        ('{run: [sleep, "9"], stop: {command: [ctl, "{{ nope }}"]}}', 3),
        ('{run: [sleep, "9"], stop: {command: "ctl {{ nope }}", shell: true}}', 3),
    ],
)
def test_a_placeholder_in_the_new_fields_must_name_a_parameter(unit: str, line: int) -> None:
    """Templated like run (plan fills them in), so checked like run: an unknown name is a
    problem at its line, never a KeyError at plan time."""
    found = problems_of(
        f"""
        name: t
        services:
          app: {unit}
        """
    )
    assert len(found) == 1, found
    assert "'{{ nope }}' is not a parameter" in found[0].message, found[0].message
    assert line_of(found[0]) == line


def test_a_secret_in_a_stop_command_is_refused() -> None:
    found = problems_of(
        """
        name: t
        parameters: {tok: {secret: true}}
        steps:
          s: {run: [sleep, "9"], stop: {command: "ctl stop {{ tok }}", shell: true}}
        """
    )
    assert len(found) == 1 and "secret parameter 'tok' is used in a command" in found[0].message
