"""Task keys on a real PostgreSQL: a batch sent again after its answer was lost queues nothing
twice — each task already there is refused with its uuid (409 over HTTP), the others go in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shipyard.coordinator import migrate
from shipyard.coordinator.decisions import TaskFilter, TaskSpec
from shipyard.coordinator.tasks import TaskQueue
from shipyard.errors import Conflict
from tests.postgres import pg_cluster, pg_url  # noqa: F401  (fixtures)


@pytest.fixture
def queue(pg_url: str) -> Iterator[TaskQueue]:  # noqa: F811
    migrate.upgrade(pg_url)
    with TaskQueue(pg_url) as opened:
        yield opened


def keyed(key: str | None, group: int = 1) -> TaskSpec:
    return TaskSpec(command=["echo", str(key)], group_id=group, creator_id=1, key=key)


def test_a_batch_sent_again_queues_only_what_was_missing(queue: TaskQueue) -> None:
    first = queue.submit([keyed("a"), keyed(None), keyed("b")])
    assert not first.refused and len(first.accepted) == 3
    uuids = {entry.index: entry.uuid for entry in first.accepted}

    again = queue.submit([keyed("a"), keyed("c"), keyed("b"), keyed(None), keyed("a", group=2)])
    refused = {entry.index: entry for entry in again.refused}
    assert sorted(refused) == [0, 2]
    assert refused[0].existing == uuids[0] and "already exists" in refused[0].reason
    assert refused[2].existing == uuids[2]
    # The others were queued, each paired with its own uuid (not shifted by the skipped ones).
    made = {entry.index: entry.uuid for entry in again.accepted}
    assert sorted(made) == [1, 3, 4]
    for index, uuid in made.items():
        assert queue.get(uuid).command == ["echo", ["a", "c", "b", "None", "a"][index]]
    assert queue.get(made[1]).key == "c" and queue.get(made[3]).key is None
    assert queue.count(TaskFilter(group_ids=[1])) == 5  # a, None, b, c, None
    assert queue.count(TaskFilter(group_ids=[2])) == 1


def test_a_key_twice_in_one_batch_and_one_submit_again(queue: TaskQueue) -> None:
    report = queue.submit([keyed("x"), keyed("x"), keyed("y")])
    assert [entry.index for entry in report.accepted] == [0, 2]
    (twice,) = report.refused
    assert twice.index == 1 and "index 0" in twice.reason and twice.existing is None
    with pytest.raises(Conflict, match="already exists") as raised:
        queue.submit_one(keyed("y"))
    assert report.accepted[1].uuid in raised.value.message


def test_a_report_sent_again_is_answered_as_the_first_was(queue: TaskQueue) -> None:
    worker = queue.register_worker(1)
    uuid = queue.submit_one(keyed("r"))
    (claimed,) = queue.fetch(worker)
    assert queue.report(worker, uuid, claimed.attempt, exit_status=0) == "succeeded"
    # Its answer was lost (the coordinator killed): the worker sends it again.
    assert queue.report(worker, uuid, claimed.attempt, exit_status=0) == "succeeded"
    assert [a.outcome for a in queue.attempts(uuid)] == ["succeeded"]
    # Another claim of it, or another outcome, is no repeat: still refused.
    other = queue.register_worker(1)
    with pytest.raises(Conflict):
        queue.report(other, uuid, claimed.attempt, exit_status=0)
    with pytest.raises(Conflict):
        queue.report(worker, uuid, claimed.attempt, exit_status=1)
