"""The scheduler's decisions, as plain tables: no processes, no clock."""

from __future__ import annotations

from shipyard.engine.scheduler import Capacity, Scheduler, StepDemand
from shipyard.models import UnitState

BIG = Capacity(slots=8, cpus=8, memory=2**40)


def steps(**needs: list[str]) -> list[StepDemand]:
    return [StepDemand(name, tuple(deps)) for name, deps in needs.items()]


def test_respects_the_slot_limit_and_declaration_order() -> None:
    scheduler = Scheduler(steps(a=[], b=[], c=[]), Capacity(2, 8, 2**40), keep_going=False)
    assert scheduler.take_ready() == ["a", "b"]
    assert scheduler.take_ready() == []
    scheduler.succeeded("a")
    assert scheduler.take_ready() == ["c"]


def test_dependants_wait_for_all_their_needs() -> None:
    scheduler = Scheduler(steps(a=[], b=[], c=["a", "b"]), BIG, keep_going=False)
    assert scheduler.take_ready() == ["a", "b"]
    scheduler.succeeded("a")
    assert scheduler.take_ready() == []
    scheduler.succeeded("b")
    assert scheduler.take_ready() == ["c"]


def test_declared_cpus_are_reserved_and_small_steps_backfill() -> None:
    demands = [
        StepDemand("big1", (), cpus=2),
        StepDemand("big2", (), cpus=2),
        StepDemand("small", (), cpus=0.5),
    ]
    scheduler = Scheduler(demands, Capacity(slots=8, cpus=2.5, memory=2**40), keep_going=False)
    assert scheduler.take_ready() == ["big1", "small"]
    scheduler.succeeded("big1")
    assert scheduler.take_ready() == ["big2"]


def test_a_step_larger_than_the_machine_runs_alone_instead_of_never() -> None:
    demands = [StepDemand("huge", (), cpus=64), StepDemand("other", (), cpus=1)]
    scheduler = Scheduler(demands, Capacity(slots=8, cpus=2, memory=2**40), keep_going=False)
    assert scheduler.take_ready() == ["huge"]
    scheduler.succeeded("huge")
    assert scheduler.take_ready() == ["other"]


def test_memory_is_reserved_too() -> None:
    demands = [StepDemand("a", (), memory=600), StepDemand("b", (), memory=600)]
    scheduler = Scheduler(demands, Capacity(slots=8, cpus=8, memory=1000), keep_going=False)
    assert scheduler.take_ready() == ["a"]


def test_fail_fast_skips_everything_not_started() -> None:
    scheduler = Scheduler(steps(a=[], b=[], c=["a"], d=[]), Capacity(2, 8, 2**40), keep_going=False)
    assert scheduler.take_ready() == ["a", "b"]
    skipped = scheduler.failed("a")
    assert sorted(skipped) == ["c", "d"]
    assert scheduler.take_ready() == []
    scheduler.succeeded("b")
    assert scheduler.finished
    assert scheduler.state == {
        "a": UnitState.FAILED,
        "b": UnitState.SUCCEEDED,
        "c": UnitState.SKIPPED,
        "d": UnitState.SKIPPED,
    }


def test_continue_skips_only_what_depends_on_the_failure() -> None:
    scheduler = Scheduler(steps(a=[], b=[], c=["a"], d=["c"], e=["b"]), BIG, keep_going=True)
    scheduler.take_ready()
    assert sorted(scheduler.failed("a")) == ["c", "d"]
    scheduler.succeeded("b")
    assert scheduler.take_ready() == ["e"]
    assert "depends on 'a'" in scheduler.reason["d"] or "depends on 'c'" in scheduler.reason["d"]


def test_retrying_gives_the_slot_back_and_requeues_first() -> None:
    scheduler = Scheduler(steps(a=[], b=[], c=[]), Capacity(1, 8, 2**40), keep_going=False)
    assert scheduler.take_ready() == ["a"]
    scheduler.retrying("a")
    assert scheduler.take_ready() == ["b"]
    scheduler.retry_due("a")
    scheduler.succeeded("b")
    assert scheduler.take_ready() == ["a"]


def test_disabled_steps_do_not_block_their_dependants() -> None:
    demands = [StepDemand("a", (), enabled=False), StepDemand("b", ("a",))]
    scheduler = Scheduler(demands, BIG, keep_going=False)
    assert scheduler.take_ready() == ["b"]
    scheduler.succeeded("b")
    assert scheduler.finished
    assert scheduler.state["a"] == UnitState.DISABLED


def test_drain_skips_pending_steps_and_cancels_one_waiting_for_its_retry() -> None:
    scheduler = Scheduler(steps(a=[], b=[]), Capacity(1, 8, 2**40), keep_going=False)
    scheduler.take_ready()
    scheduler.retrying("a")
    assert sorted(scheduler.drain("stopped")) == ["a", "b"]
    assert scheduler.finished
    # `a` did run (and failed): it was not "not started"; only its retry was called off.
    assert scheduler.state == {"a": UnitState.CANCELLED, "b": UnitState.SKIPPED}


def test_a_step_needing_a_service_waits_until_it_is_ready() -> None:
    scheduler = Scheduler(
        steps(prep=[], load=["prep", "web"]), BIG, keep_going=False, external=["web"]
    )
    assert scheduler.take_ready() == ["prep"]
    scheduler.succeeded("prep")
    assert scheduler.take_ready() == []  # web is not healthy yet
    scheduler.external_ready("web")
    scheduler.external_ready("web")  # healthy again after a restart: counted once
    assert scheduler.take_ready() == ["load"]
    assert "web" not in scheduler.state  # the scheduler never starts a service


def test_a_service_that_fails_skips_the_steps_needing_it_and_only_them() -> None:
    scheduler = Scheduler(
        steps(load=["web"], report=["load"], other=[]), BIG, keep_going=True, external=["web"]
    )
    assert scheduler.take_ready() == ["other"]
    assert sorted(scheduler.external_failed("web")) == ["load", "report"]
    assert "never became healthy" in scheduler.reason["load"]
    scheduler.succeeded("other")
    assert scheduler.finished
