"""A node manager's pure decisions (issue 14 §2): CPU binding plans, a managed worker's end,
the state machine, the prefetch rule, the reconnect backoff, the end of a suite here."""

from __future__ import annotations

import signal

import pytest

from shipyard.manager.decisions import (
    Exit,
    ManagerError,
    classify_exit,
    counts,
    cpu_plan,
    crash_reason,
    fetch_limit,
    gives_up,
    heartbeat_interval,
    hold_interval,
    next_state,
    reconnect_delay,
    suite_finished,
)

FOUR = range(4)


def _sets(*cores: tuple[int, ...]) -> list[frozenset[int] | None]:
    return [frozenset(group) for group in cores]


@pytest.mark.parametrize(
    ("count", "strategy", "cores", "available", "expected"),
    [
        # The digest's examples: 8 workers round-robin on 0..3 -> 0,1,2,3,0,1,2,3.
        (8, "round-robin", [0, 1, 2, 3], FOUR, _sets(*[(i % 4,) for i in range(8)])),
        (3, "round-robin", [2], FOUR, _sets((2,), (2,), (2,))),
        # Exclusive: 2 workers on [0,1,2,3] -> [0,1], [2,3]; the last takes the remainder.
        (2, "exclusive", [0, 1, 2, 3], FOUR, _sets((0, 1), (2, 3))),
        (3, "exclusive", [0, 1, 2, 3], FOUR, _sets((0,), (1,), (2, 3))),
        (2, "shared", [1, 3], FOUR, _sets((1, 3), (1, 3))),
        # No cores listed: every CPU this process may use.
        (2, "round-robin", [], {0, 1}, _sets((0,), (1,))),
        (1, "shared", [], {0, 1}, _sets((0, 1))),
        # No binding at all: unbound.
        (2, None, [], FOUR, [None, None]),
    ],
)
def test_cpu_plans(
    count: int, strategy: str | None, cores: list[int], available: range | set[int],
    expected: list[frozenset[int] | None],
) -> None:  # fmt: skip
    assert cpu_plan(count, strategy, cores, available) == expected


@pytest.mark.parametrize(
    ("count", "strategy", "cores", "available", "words"),
    [
        (1, "round-robin", [0, 7], {0, 1}, "CPU 7, which this machine does not offer (it has 0-1)"),
        (2, "shared", [5, 6], {0, 1, 2, 4},
         "CPU 5, 6, which this machine does not offer (it has 0-2,4)"),
        (3, "exclusive", [0, 1], FOUR,
         "exclusive binding of 3 workers needs at least 3 cores; 2 listed"),
    ],
)  # fmt: skip
def test_cpu_plans_refused_say_why(
    count: int, strategy: str, cores: list[int], available: range | set[int], words: str
) -> None:
    with pytest.raises(ManagerError) as refused:
        cpu_plan(count, strategy, cores, available)
    assert words in refused.value.message
    assert refused.value.hint


@pytest.mark.parametrize(
    ("returncode", "kind", "counted"),
    [
        (0, Exit.INTENDED, 0),
        (-signal.SIGTERM, Exit.INTENDED, 0),
        (-signal.SIGINT, Exit.INTENDED, 0),
        (-signal.SIGSEGV, Exit.HARDWARE, 1),
        (-signal.SIGILL, Exit.HARDWARE, 1),
        (-signal.SIGBUS, Exit.HARDWARE, 1),
        (-signal.SIGFPE, Exit.HARDWARE, 1),
        (-signal.SIGKILL, Exit.CRASH, 1),
        (-signal.SIGABRT, Exit.CRASH, 1),
        (-signal.SIGUSR1, Exit.CRASH, 1),
        (1, Exit.CRASH, 1),
        (137, Exit.CRASH, 1),
    ],
)
def test_a_managed_workers_end(returncode: int, kind: Exit, counted: int) -> None:
    assert classify_exit(returncode) is kind
    assert counts(returncode) == counted


@pytest.mark.parametrize(
    ("worker", "returncode", "reason"),
    [
        (2, -signal.SIGKILL, "managed worker 2 was killed by SIGKILL"),
        (0, -signal.SIGSEGV, "managed worker 0 was killed by SIGSEGV"),
        (1, 3, "managed worker 1 exited with status 3"),
        (1, -200, "managed worker 1 was killed by signal 200"),
    ],
)
def test_crash_reasons_name_the_signal_or_status(worker: int, returncode: int, reason: str) -> None:
    assert crash_reason(worker, returncode) == reason


@pytest.mark.parametrize(
    ("crashes", "expected"), [(0, False), (1, False), (2, False), (3, True), (4, True)]
)
def test_three_crashes_give_the_suite_up(crashes: int, expected: bool) -> None:  # fmt: skip
    assert gives_up(crashes) is expected


@pytest.mark.parametrize(
    ("state", "event", "expected"),
    [
        ("idle", "taken", "preparing"),
        ("preparing", "prepared", "executing"),
        ("preparing", "prep_failed", "cleanup"),
        ("preparing", "cancelled", "cleanup"),
        ("preparing", "shutdown", "cleanup"),
        ("executing", "drained", "cleanup"),
        ("executing", "cancelled", "cleanup"),
        ("executing", "gave_up", "cleanup"),
        ("executing", "shutdown", "cleanup"),
        ("cleanup", "cleaned", "idle"),
    ],
)
def test_state_machine(state: str, event: str, expected: str) -> None:
    assert next_state(state, event) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("state", "event"),
    [("idle", "prepared"), ("idle", "drained"), ("executing", "taken"), ("cleanup", "taken"),
     ("preparing", "cleaned"), ("idle", "cleaned")],
)  # fmt: skip
def test_transitions_the_design_has_not_are_refused(state: str, event: str) -> None:
    with pytest.raises(ManagerError, match=f"a manager in state {state} cannot take '{event}'"):
        next_state(state, event)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("buffered", "prefetch", "queued", "recheck", "expected"),
    [
        (0, 16, None, False, 16),  # first fill
        (8, 16, 100, False, 8),  # fallen to half: refill what is missing
        (9, 16, 100, False, 0),  # above half: not yet
        (0, 1, 5, False, 1),
        (1, 1, 5, False, 0),
        (3, 7, 5, False, 4),  # 3 <= 3.5
        (4, 7, 5, False, 0),
        (0, 16, 0, False, 0),  # last seen with nothing queued: wait for a recheck
        (0, 16, 0, True, 16),
        (0, 5000, None, False, 1000),  # one fetch claims at most MAX_BATCH
    ],
)
def test_prefetch_refills_at_half(
    buffered: int, prefetch: int, queued: int | None, recheck: bool, expected: int
) -> None:
    assert fetch_limit(buffered, prefetch, queued=queued, recheck=recheck) == expected


@pytest.mark.parametrize(
    ("failures", "draw", "expected"),
    [(1, 0.0, 0.5), (1, 1.0, 1.0), (2, 1.0, 2.0), (3, 1.0, 4.0), (6, 1.0, 32.0), (7, 1.0, 60.0),
     (50, 1.0, 60.0), (7, 0.0, 30.0)],
)  # fmt: skip
def test_reconnect_backoff_one_to_sixty(failures: int, draw: float, expected: float) -> None:
    assert reconnect_delay(failures, draw) == expected


@pytest.mark.parametrize(
    ("state", "queued", "held", "expected"),
    [
        ("open", 0, 0, None),  # may still get tasks
        ("closed", 0, 0, "drained"),
        ("complete", 0, 0, "drained"),
        ("closed", 1, 0, None),
        ("closed", 0, 2, None),  # tasks held here still run
        ("complete", 0, 1, None),
        ("cancelled", 5, 3, "cancelled"),
    ],
)
def test_when_a_suite_is_finished_here(
    state: str, queued: int, held: int, expected: str | None
) -> None:
    assert suite_finished(state, queued, held) == expected


@pytest.mark.parametrize(
    ("asked", "expected", "interval"),
    [(30.0, 30.0, 30.0), (30.0, 0.75, 0.75), (0.5, 30.0, 0.5), (30.0, None, 30.0),
     (10.0, 0.0, 10.0)],
)  # fmt: skip
def test_heartbeats_never_slower_than_the_coordinator_expects(
    asked: float, expected: float | None, interval: float
) -> None:
    assert heartbeat_interval(asked, expected) == interval


@pytest.mark.parametrize(("lease", "interval"), [(30.0, 10.0), (3.0, 1.0), (0.1, 0.1)])
def test_holds_every_third_of_the_lease(lease: float, interval: float) -> None:
    assert hold_interval(lease) == pytest.approx(interval)
