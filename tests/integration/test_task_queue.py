"""The task queue on a real PostgreSQL (issue 13 §3): concurrent fetchers, leases and their
recovery, give-up after N attempts, LISTEN/NOTIFY wake-ups, edits, cancels, filters, watch."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from shipyard.coordinator import migrate, tasks
from shipyard.coordinator.decisions import TaskFilter, TaskSpec, Watch
from shipyard.coordinator.tasks import Listener, Report, TaskQueue
from shipyard.errors import BadRequest, Conflict, DatabaseUnavailable, NotFound
from tests.postgres import pg_cluster, pg_url  # noqa: F401  (fixtures)

GROUP = 1


@pytest.fixture
def url(pg_url: str) -> str:  # noqa: F811
    migrate.upgrade(pg_url)
    return pg_url


@pytest.fixture
def queue(url: str) -> Iterator[TaskQueue]:
    with TaskQueue(url) as opened:
        yield opened


def spec(*command: str, **fields: object) -> TaskSpec:
    given: dict[str, object] = {"group_id": GROUP, "creator_id": 1, **fields}
    return TaskSpec(command=list(command or ["true"]), **given)  # type: ignore[arg-type]


def submit(queue: TaskQueue, *specs: TaskSpec) -> list[str]:
    report = queue.submit(list(specs))
    assert not report.refused, report.refused
    return [entry.uuid for entry in report.accepted]


def _fetch_all(
    url: str, worker: str, seen: list[str], errors: list[BaseException], start: threading.Barrier
) -> None:
    try:
        with TaskQueue(url) as mine:
            start.wait(timeout=30)  # all connected first: they really fetch side by side
            while claimed := mine.fetch(worker, 5):
                for task in claimed:
                    seen.append(task.uuid)
                    mine.report(worker, task.uuid, task.attempt, exit_status=0)
    except BaseException as error:  # the main thread fails the test with it
        errors.append(error)


def test_concurrent_fetchers_never_share_a_task(queue: TaskQueue, url: str) -> None:
    made = set(submit(queue, *(spec("echo", str(n)) for n in range(400))))
    workers = [queue.register_worker(GROUP) for _ in range(4)]
    seen: list[list[str]] = [[] for _ in workers]
    errors: list[BaseException] = []
    start = threading.Barrier(len(workers))
    threads = [
        threading.Thread(target=_fetch_all, args=(url, worker, mine, errors, start))
        for worker, mine in zip(workers, seen, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    every = [uuid for mine in seen for uuid in mine]
    assert Counter(every).most_common(1)[0][1] == 1
    assert set(every) == made
    assert sum(1 for mine in seen if mine) >= 2  # they really fetched side by side
    assert queue.count(TaskFilter(states=["succeeded"])) == 400
    assert {a.number for a in queue.attempts(every[0])} == {1}


def test_priority_then_age(queue: TaskQueue) -> None:
    low, high, later_high = submit(queue, spec(), spec(priority=5), spec(priority=5))
    worker = queue.register_worker(GROUP)
    assert [t.uuid for t in queue.fetch(worker, 3)] == [high, later_high, low]


def test_tags_and_group_decide_who_fetches(queue: TaskQueue) -> None:
    gpu, plain, other_group = submit(
        queue, spec(tags=["gpu"]), spec(), TaskSpec(["true"], group_id=2, creator_id=1)
    )
    cpu_worker = queue.register_worker(GROUP, ["cpu"])
    assert [t.uuid for t in queue.fetch(cpu_worker, 10)] == [plain]
    gpu_worker = queue.register_worker(GROUP, ["gpu", "cuda"])
    assert [t.uuid for t in queue.fetch(gpu_worker, 10)] == [gpu]
    assert queue.get(other_group).state == "queued"


def _wait_until_expired(queue: TaskQueue, uuid: str) -> None:
    expires = queue.get(uuid).lease_expires
    assert expires is not None
    while queue.get(uuid).state == "running" and not queue.recover():
        time.sleep(0.05)


def test_an_expired_lease_is_recovered_and_the_task_runs_again(url: str) -> None:
    with TaskQueue(url, lease=0.3) as queue:
        (uuid,) = submit(queue, spec("sleep", "1"))
        first, second = queue.register_worker(GROUP), queue.register_worker(GROUP)
        (claimed,) = queue.fetch(first)
        assert claimed.attempt == 1
        _wait_until_expired(queue, uuid)  # the first worker never heartbeats: as if killed
        (again,) = queue.fetch(second)
        assert (again.uuid, again.attempt) == (uuid, 2)
        with pytest.raises(Conflict, match="no longer holds its lease") as refused:
            queue.report(first, uuid, 1, exit_status=0)
        assert refused.value.http_status == 409
        assert queue.report(second, uuid, 2, exit_status=0, output="done") == "succeeded"
        attempts = queue.attempts(uuid)
        assert [(a.number, a.outcome) for a in attempts] == [(1, "lost"), (2, "succeeded")]
        assert [a.worker_id for a in attempts] == [first, second]
        assert queue.get(uuid).output_tail == "done"


def test_a_heartbeat_extends_only_the_leases_the_worker_lists(url: str) -> None:
    """A claim the worker never heard of (its fetch answer lost) is not kept alive: it runs
    out of lease and is recovered, while the listed task stays the worker's."""
    with TaskQueue(url, lease=0.5) as queue:
        known, unknown = submit(queue, spec(), spec())
        worker = queue.register_worker(GROUP)
        assert sorted(c.uuid for c in queue.fetch(worker, limit=2)) == sorted([known, unknown])
        recovered: list[str] = []
        for _ in range(15):  # 1.5 s, three leases
            assert queue.heartbeat(worker, [known]) == [known]
            recovered += queue.recover()
            time.sleep(0.1)
        assert recovered == ["queued"], "a task missing from the heartbeat kept its lease"
        assert queue.get(known).state == "running"
        assert queue.get(unknown).state == "queued"
        assert queue.heartbeat(worker, []) == []


def test_a_heartbeat_keeps_the_lease(url: str) -> None:
    with TaskQueue(url, lease=1.0) as queue:
        (uuid,) = submit(queue, spec())
        worker = queue.register_worker(GROUP)
        (claimed,) = queue.fetch(worker)
        for _ in range(15):  # 1.5 s, past one lease, kept alive by heartbeats
            assert queue.heartbeat(worker) == [uuid]
            assert queue.recover() == []
            time.sleep(0.1)
        assert queue.get(uuid).state == "running"
        assert queue.report(worker, uuid, claimed.attempt, exit_status=0) == "succeeded"


def test_a_task_that_fails_n_times_is_given_up(queue: TaskQueue) -> None:
    (uuid,) = submit(queue, spec("false", max_attempts=3))
    worker = queue.register_worker(GROUP)
    states = []
    for _ in range(3):
        (claimed,) = queue.fetch(worker)
        states.append(queue.report(worker, uuid, claimed.attempt, exit_status=1))
    assert states == ["queued", "queued", "failed"]
    assert queue.fetch(worker) == []
    task = queue.get(uuid)
    assert (task.state, task.attempts, task.exit_status) == ("failed", 3, 1)
    assert task.message == "gave up after 3 attempts: the last exited 1"
    assert [(a.number, a.outcome) for a in queue.attempts(uuid)] == [
        (1, "failed"), (2, "failed"), (3, "failed"),
    ]  # fmt: skip


def test_lost_leases_count_as_attempts(url: str) -> None:
    with TaskQueue(url, lease=0.2) as queue:
        (uuid,) = submit(queue, spec(max_attempts=2))
        worker = queue.register_worker(GROUP)
        for _ in range(2):
            queue.fetch(worker)
            _wait_until_expired(queue, uuid)
        task = queue.get(uuid)
        assert task.state == "failed"
        assert task.message == "gave up after 2 attempts: the last lost its lease"
        assert [a.outcome for a in queue.attempts(uuid)] == ["lost", "lost"]


def test_a_leaving_worker_gives_its_tasks_back(queue: TaskQueue) -> None:
    (uuid,) = submit(queue, spec())
    worker = queue.register_worker(GROUP)
    queue.fetch(worker)
    assert queue.leave(worker) == ["queued"]
    assert queue.get(uuid).state == "queued"
    with pytest.raises(Conflict, match="is gone"):
        queue.fetch(worker)


def test_notify_wakes_a_waiting_fetcher(
    queue: TaskQueue, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No polling to fall back on within the test: only the notification can wake it.
    monkeypatch.setattr(tasks, "POLL", 600.0)
    worker = queue.register_worker(GROUP)
    got: list[tuple[float, list[str]]] = []
    listening = threading.Event()

    def wait_for_work() -> None:
        with TaskQueue(url) as mine, Listener(url) as listener:
            listening.set()
            claimed = mine.fetch_wait(worker, listener, wait=60)
            got.append((time.perf_counter(), [t.uuid for t in claimed]))

    fetcher = threading.Thread(target=wait_for_work)
    fetcher.start()
    listening.wait()
    time.sleep(0.3)  # the fetcher has looked once and is waiting
    submitted_at = time.perf_counter()
    (uuid,) = submit(queue, spec())
    fetcher.join(timeout=30)
    assert not fetcher.is_alive()
    woke_at, claimed = got[0]
    assert claimed == [uuid]
    print(f"wake latency {1000 * (woke_at - submitted_at):.1f} ms")


def test_a_wait_with_nothing_to_do_returns_empty(queue: TaskQueue, url: str) -> None:
    worker = queue.register_worker(GROUP)
    with Listener(url) as listener:
        assert queue.fetch_wait(worker, listener, wait=0.2) == []


def test_edits_before_start_only(queue: TaskQueue) -> None:
    (uuid,) = submit(queue, spec("echo", "a"))
    edited = queue.edit(uuid, priority=9, tags=["x"], labels={"k": 1}, command=["echo", "b"])
    assert (edited.priority, edited.tags, edited.labels, edited.command) == (
        9, ["x"], {"k": 1}, ["echo", "b"],
    )  # fmt: skip
    with pytest.raises(BadRequest, match="state cannot be edited"):
        queue.edit(uuid, state="succeeded")
    with pytest.raises(BadRequest, match=r"contains '\.\.'"):
        queue.edit(uuid, local_path="../x")
    worker = queue.register_worker(GROUP, ["x"])
    queue.fetch(worker)
    with pytest.raises(Conflict, match="has started") as refused:
        queue.edit(uuid, priority=1)
    assert refused.value.http_status == 409
    with pytest.raises(NotFound):
        queue.edit("00000000-0000-4000-8000-000000000000", priority=1)
    assert queue.edit(uuid) == queue.get(uuid)  # nothing to change: nothing changed


def test_a_batch_is_taken_task_by_task(queue: TaskQueue) -> None:
    (upstream,) = submit(queue, spec())
    report = queue.submit([
        spec("ok"),
        spec(),
        TaskSpec([], GROUP, 1),
        spec(local_path="/etc"),
        spec(local_path="data/../../x"),
        spec(priority="high"),  # type: ignore[arg-type]
        spec(watch=Watch("00000000-0000-4000-8000-000000000000")),
        spec(watch=Watch(upstream, "started")),
    ])  # fmt: skip
    assert [entry.index for entry in report.accepted] == [0, 1, 7]
    reasons = {entry.index: entry.reason for entry in report.refused}
    assert sorted(reasons) == [2, 3, 4, 5, 6]
    assert "command" in reasons[2] and "absolute" in reasons[3] and "'..'" in reasons[4]
    assert "priority" in reasons[5] and "no task of group" in reasons[6]
    assert queue.get(report.accepted[0].uuid).command == ["ok"]
    with pytest.raises(BadRequest, match="absolute") as refused:
        queue.submit_one(spec(local_path="/etc"))
    assert refused.value.http_status == 400


def test_filters(queue: TaskQueue) -> None:
    a, b, c, d = submit(
        queue,
        spec(tags=["gpu", "big"], labels={"team": "x", "n": 1}, priority=1),
        spec(tags=["gpu"], labels={"team": "y"}),
        TaskSpec(["true"], GROUP, creator_id=2, priority=7),
        spec("false", max_attempts=1),
    )
    worker = queue.register_worker(GROUP, ["gpu", "big"])
    queue.fetch(worker, 10)
    queue.report(worker, d, 1, exit_status=3)
    queue.report(worker, c, 1, exit_status=0)

    def found(**fields: object) -> set[str]:
        return {task.uuid for task in queue.query(TaskFilter(**fields))}  # type: ignore[arg-type]

    assert found(tags=["gpu"]) == {a, b}
    assert found(tags=["gpu", "big"]) == {a}
    assert found(labels={"team": "x"}) == {a}
    assert found(creator_ids=[2]) == {c}
    assert found(states=["failed"]) == {d}
    assert found(exit_status=">=1") == {d}
    assert found(exit_status="!=3", states=["succeeded", "failed"]) == {c}
    assert found(priority=">0") == {a, c}
    assert found(uuids=[a, c]) == {a, c}
    assert queue.count(TaskFilter(group_ids=[GROUP])) == 4
    newest_first = [task.uuid for task in queue.query(TaskFilter(), limit=2, offset=1)]
    assert newest_first == [c, b]


def test_cancel_one_list_and_filter(queue: TaskQueue) -> None:
    keep, x1, x2, running = submit(
        queue, spec(tags=["keep"]), spec(tags=["x"]), spec(tags=["x"]), spec(tags=["x"], priority=9)
    )
    worker = queue.register_worker(GROUP, ["x"])
    assert [t.uuid for t in queue.fetch(worker, 1)] == [running]
    assert sorted(queue.cancel_where(TaskFilter(tags=["x"]))) == sorted([x1, x2])
    assert queue.get(running).state == "running"
    assert queue.get(keep).state == "queued"
    missing = "00000000-0000-4000-8000-000000000000"
    report = queue.cancel_many([keep, running, missing])
    assert report.cancelled == [keep]
    assert report.refused == {running: "is running", missing: "no task has this id"}
    with pytest.raises(Conflict, match="is running"):
        queue.cancel(running)
    with pytest.raises(NotFound):
        queue.cancel(missing)
    with pytest.raises(BadRequest, match="not a task uuid"):
        queue.cancel("'; DROP TABLE tasks; --")
    assert queue.get(x1).message == "cancelled by a user"
    with pytest.raises(BadRequest, match="at least one condition"):
        queue.cancel_where(TaskFilter())
    assert queue.count(TaskFilter(states=["cancelled"])) == 3


def test_watch_holds_a_task_until_its_upstream_gets_there(queue: TaskQueue) -> None:
    (up,) = submit(queue, spec(tags=["up"]))
    on_success, on_start, on_failure = submit(
        queue,
        spec(watch=Watch(up, "succeeded")),
        spec(watch=Watch(up, "started")),
        spec(watch=Watch(up, "failed")),
    )
    (beyond,) = submit(queue, spec(watch=Watch(on_failure, "succeeded")))
    plain = queue.register_worker(GROUP)
    assert queue.fetch(plain, 10) == []
    up_worker = queue.register_worker(GROUP, ["up"])
    assert [t.uuid for t in queue.fetch(up_worker, 1)] == [up]
    assert [t.uuid for t in queue.fetch(plain, 10)] == [on_start]
    queue.report(up_worker, up, 1, exit_status=0)
    # The failure-watcher can never go now: cancelled, and so is what watched it.
    assert queue.get(on_failure).state == "cancelled"
    assert f"upstream {up} ended succeeded" in str(queue.get(on_failure).message)
    assert queue.get(beyond).state == "cancelled"
    assert [t.uuid for t in queue.fetch(plain, 10)] == [on_success]


def test_results_and_artifacts(queue: TaskQueue) -> None:
    (uuid,) = submit(queue, spec())
    worker = queue.register_worker(GROUP)
    queue.fetch(worker)
    queue.report(worker, uuid, 1, exit_status=0, output="x" * 70_000 + "END", result={"a": [1]})
    task = queue.get(uuid)
    assert task.result == {"a": [1]} and task.exit_status == 0
    assert task.output_tail is not None and task.output_tail.endswith("END")
    assert len(task.output_tail) == tasks.OUTPUT_TAIL
    queue.add_artifact(uuid, "result.tar.gz", 10, f"{uuid}/result.tar.gz")
    assert [(a.name, a.size) for a in queue.artifacts(uuid)] == [("result.tar.gz", 10)]
    with pytest.raises(BadRequest):
        queue.add_artifact(uuid, "../x", 1, "x")


def test_an_unknown_worker_is_told_so(queue: TaskQueue) -> None:
    with pytest.raises(NotFound, match="no worker"):
        queue.fetch("00000000-0000-4000-8000-000000000000")
    with pytest.raises(BadRequest, match="worker id"):
        queue.heartbeat("nope")


def test_hostile_values_are_refused_not_crashed(queue: TaskQueue) -> None:
    report = queue.submit([spec(labels={"a": "x\x00"}), spec(group_id=2**63)])  # type: ignore[arg-type]
    assert [entry.index for entry in report.refused] == [0, 1]
    (uuid,) = submit(queue, spec())
    worker = queue.register_worker(GROUP)
    queue.fetch(worker)
    with pytest.raises(BadRequest, match="exit_status"):
        queue.report(worker, uuid, 1, exit_status=2**40)
    with pytest.raises(BadRequest, match="limit"):
        queue.fetch(worker, 0)
    queue.report(worker, uuid, 1, exit_status=0, output="bin\x00ary")
    assert queue.get(uuid).output_tail == "bin\ufffdary"


def test_a_database_without_tables_says_to_upgrade(pg_url: str) -> None:  # noqa: F811
    with TaskQueue(pg_url) as bare, pytest.raises(DatabaseUnavailable, match="no task tables"):
        bare.get("00000000-0000-4000-8000-000000000000")


def test_a_batch_of_reports_is_taken_report_by_report(url: str) -> None:
    with TaskQueue(url, lease=0.3) as queue:
        ok, retry, stale = submit(queue, spec(), spec(max_attempts=2), spec(priority=-1))
        worker, other = queue.register_worker(GROUP), queue.register_worker(GROUP)
        assert [t.uuid for t in queue.fetch(worker, 3)] == [ok, retry, stale]
        assert queue.heartbeat(worker) == sorted([ok, retry, stale])
        _wait_until_expired(queue, ok)
        again = queue.fetch(other, 3)
        assert {t.uuid for t in again} == {ok, retry, stale}
        missing = "00000000-0000-4000-8000-000000000000"
        outcome = queue.report_many(
            other,
            [Report(ok, 2, 0, "fine", {"n": 1}), Report(retry, 2, 1), Report(stale, 1, 0),
             Report(missing, 1, 0)],
        )  # fmt: skip
        assert outcome.states == {ok: "succeeded", retry: "failed"}
        assert isinstance(outcome.refused[stale], Conflict)
        assert isinstance(outcome.refused[missing], NotFound)
        assert queue.get(ok).result == {"n": 1} and queue.get(ok).output_tail == "fine"
        assert queue.get(stale).state == "running"


def test_a_worker_registers_under_its_principals_id(queue: TaskQueue) -> None:
    principal = "11111111-1111-4111-8111-111111111111"
    assert queue.register_worker(GROUP, ["a"], worker_id=principal) == principal
    queue.leave(principal)
    (uuid,) = submit(queue, spec(tags=["b"]))
    assert queue.register_worker(GROUP, ["b"], worker_id=principal) == principal  # again
    assert [t.uuid for t in queue.fetch(principal)] == [uuid]
    with pytest.raises(BadRequest, match="tags"):
        queue.register_worker(GROUP, [""])
    with pytest.raises(BadRequest, match="worker id"):
        queue.register_worker(GROUP, worker_id="x")


def test_counts_by_state(queue: TaskQueue) -> None:
    assert queue.counts().tasks == dict.fromkeys(
        ("queued", "running", "succeeded", "failed", "cancelled"), 0
    )
    done, running, _waiting = submit(queue, spec(priority=2), spec(priority=1), spec())
    worker = queue.register_worker(GROUP)
    queue.fetch(worker, 2)
    queue.report(worker, done, 1, exit_status=0)
    gone = queue.register_worker(GROUP)
    queue.leave(gone)
    counts = queue.counts()
    assert (counts.tasks["queued"], counts.tasks["running"], counts.tasks["succeeded"]) == (1, 1, 1)
    assert counts.workers == {"active": 1, "draining": 0, "gone": 1}
    assert queue.get(running).state == "running"
