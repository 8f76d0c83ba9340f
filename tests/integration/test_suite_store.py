"""The suites' database guard (revision 0004_suites' trigger), below the routes: a task that
reaches a final suite after the route's check (the suite completed or was cancelled in
between) is refused with 409 by the insert itself, and a closed suite reopens in it."""

from __future__ import annotations

import pytest

from shipyard.coordinator import migrate
from shipyard.coordinator.decisions import TaskSpec
from shipyard.coordinator.suites import NewSuite, SuiteStore
from shipyard.coordinator.tasks import TaskQueue
from shipyard.errors import Conflict
from tests.postgres import pg_cluster, pg_url  # noqa: F401  (fixtures)


def test_the_insert_refuses_a_final_suite_and_reopens_a_closed_one(pg_url: str) -> None:  # noqa: F811
    migrate.upgrade(pg_url)
    store = SuiteStore(pg_url)
    try:
        closed = store.create(NewSuite(group_id=1, creator_id=1))
        cancelled = store.create(NewSuite(group_id=1, creator_id=1))
        ids = {uuid: store.joined(uuid).id for uuid in (closed, cancelled)}
        with TaskQueue(pg_url) as queue:
            queue.submit_one(TaskSpec(["true"], 1, 1, suite_id=ids[closed]))
            assert store.close_suite(closed).state == "closed"
            store.cancel(cancelled, running=False, reason=None)
            queue.submit_one(TaskSpec(["true"], 1, 1, suite_id=ids[closed]))
            with pytest.raises(Conflict) as raised:
                queue.submit_one(TaskSpec(["true"], 1, 1, suite_id=ids[cancelled]))
        assert "complete or cancelled" in raised.value.message, raised.value.message
        reopened = store.get(closed)
        assert (reopened.state, reopened.total, reopened.pending) == ("open", 2, 2)
        assert store.get(cancelled).total == 0  # the refused insert left nothing behind
    finally:
        store.close()
