"""The node-manager scenarios and faults of issue 14 §4 that test_manager_process.py does not
cover, each with real processes: ``shipyard serve --db`` over the throwaway PostgreSQL and real
``shipyard manager`` processes (the fixtures and helpers of test_manager_process.py).

- auto-close and reopen with a manager at work (the digest's §8 item 3, idle time shortened);
- priority order between two suites waiting for one manager;
- PostgreSQL stopped and started mid-suite: every task succeeds exactly once in the records;
- tag matching with two managers (a small version of the digest's §8 item 5 matrix).

What the tests look at is what a user would: the suite route's state over time, the tasks'
results with their attempts (who ran them, when), and the managers' --json progress.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.test_coordinator_faults import Site
from tests.integration.test_coordinator_routes import Served
from tests.integration.test_manager_process import (
    API,
    SETTINGS,
    Lab,
    _manager,
    _one,
    _sh,
    _until,
    lab,  # noqa: F401  (fixture)
    served,  # noqa: F401  (fixture)
)
from tests.postgres import Cluster, pg_cluster, pg_url, throwaway_cluster  # noqa: F401  (fixtures)
from tests.postgres import start as start_postgres
from tests.postgres import stop as stop_postgres

# slow as a file: a served coordinator on a throwaway PostgreSQL, with real workers or managers
# whose tests wait out leases, heartbeats and timeouts (make test-slow and CI run it)
pytestmark = pytest.mark.slow


class StateWatch:
    """Polls ``GET /suites/{uuid}`` on a thread of its own (its own HTTP client) and records
    each change of the suite's state, so a short-lived state is not missed between the test's
    own looks."""

    def __init__(self, at: Lab, suite: str) -> None:
        self.seen: list[str] = []
        self._stop = threading.Event()
        self._http = httpx.Client(base_url=at.served.url, headers=at.root, timeout=30)
        self._path = f"{API}/suites/{suite}"
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                answer = self._http.get(self._path)
            except httpx.TransportError:
                answer = None
            if answer is not None and answer.status_code == 200:
                state = answer.json()["state"]
                if not self.seen or self.seen[-1] != state:
                    self.seen.append(state)
            self._stop.wait(0.03)

    def now(self) -> str | None:
        return self.seen[-1] if self.seen else None

    def __enter__(self) -> StateWatch:
        self._thread.start()
        _until("the suite's first state seen", lambda: self.seen, 30)
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._http.close()


def _manager_id(at: Lab, tags: str = "") -> str:
    """The uuid of the registered manager holding exactly ``tags``."""
    wanted = sorted(t for t in tags.split(",") if t)

    def found() -> str | None:
        for manager in at.managers():
            if sorted(manager["tags"]) == wanted:
                return str(manager["uuid"])
        return None

    return str(_until(f"the manager with tags {wanted} registered", found, 30))


def _attempts(at: Lab, uuid: str) -> list[dict[str, Any]]:
    return list(at.get(f"/tasks/{uuid}/result")["attempts"])


def _started_at(at: Lab, uuid: str) -> datetime:
    """When the task's succeeded attempt started."""
    (won,) = [a for a in _attempts(at, uuid) if a["outcome"] == "succeeded"]
    return datetime.fromisoformat(won["started_at"])


def test_a_suite_closes_completes_and_a_closed_one_reopens_for_its_manager(
    lab: Lab,  # noqa: F811
    tmp_path: Path,
) -> None:
    # [coordinator] suite_idle_close = 1, suite_sweep = 0.2 (test_manager_process.SETTINGS).
    assert "suite_idle_close = 1\n" in SETTINGS and "suite_sweep = 0.2\n" in SETTINGS
    # 1. Three tasks of 0.7 s one after the other: the suite closes (no new task for 1 s)
    # while they run, and completes when the last ends.
    first = lab.suite(name="first", worker_schedule={"count": 1, "prefetch": 1})
    lab.submit(first, [_sh("sleep 0.7")] * 3)
    with StateWatch(lab, first) as watch, _manager(lab, tmp_path) as manager:
        _until("the first suite complete", lambda: watch.now() == "complete")
        assert watch.seen == ["open", "closed", "complete"], watch.seen
        _until("the manager idle after the first suite", lambda: manager.events("idle"))
        me = _manager_id(lab)

        # 2. A suite whose one task waits for the test: the suite closes while its manager
        # waits on it; a task submitted then reopens it and the manager runs that one too.
        gate, release, ran = tmp_path / "gate", tmp_path / "release", tmp_path / "ran"
        second = lab.suite(name="second", worker_schedule={"count": 2, "prefetch": 1})
        with StateWatch(lab, second) as watch2:
            (held,) = lab.submit(second, [_sh(
                f"touch {gate}; while [ ! -e {release} ]; do sleep 0.1; done")])  # fmt: skip
            _until("the gate task started", gate.exists)
            _until("the second suite closed while its task runs",
                   lambda: watch2.now() == "closed")  # fmt: skip
            (late,) = lab.submit(second, [_sh(f"touch {ran}")])
            _until("the late task run by the manager of the reopened suite",
                   lambda: lab.get(f"/tasks/{late}/result")["state"] == "succeeded")  # fmt: skip
            assert not release.exists()  # it ran while the suite was still this manager's
            release.touch()
            _until("the second suite complete", lambda: watch2.now() == "complete")
        # Reopened, then complete: through closed when the sweep saw it idle with the gate
        # task still running, else in one sweep (suitestate.settled: idle and drained).
        assert watch2.seen[:3] == ["open", "closed", "open"], (
            f"the second suite's states: {watch2.seen} (a task submitted to a closed suite "
            "must reopen it)"
        )
        assert watch2.seen[3:] in (["complete"], ["closed", "complete"]), watch2.seen
        for uuid in (held, late):
            assert [a["worker_id"] for a in _attempts(lab, uuid)] == [me], _attempts(lab, uuid)
        _until("the manager through the second suite",
               lambda: len(manager.events("suite_done")) == 2)  # fmt: skip
        done = manager.events("suite_done")[1]
        assert done["suite"] == second and done["reason"] == "drained", done
        assert done["completed"] == 2, done
        taken = [e["suite"] for e in manager.events("suite_taken")]
        assert taken == [first, second], f"suites taken in turn: {taken}"


def test_the_higher_priority_suite_runs_first_on_one_manager(
    lab: Lab,  # noqa: F811
    tmp_path: Path,
) -> None:
    # The low one is made first: oldest-first alone would pick it.
    low = lab.suite(name="low", priority=1, worker_schedule={"count": 1, "prefetch": 2})
    high = lab.suite(name="high", priority=5, worker_schedule={"count": 1, "prefetch": 2})
    low_tasks = lab.submit(low, [_sh("sleep 0.1")] * 4)
    high_tasks = lab.submit(high, [_sh("sleep 0.1")] * 4)
    with _manager(lab, tmp_path) as manager:
        for suite in (low, high):
            _until(f"suite {suite} complete",
                   lambda s=suite: lab.get(f"/suites/{s}")["state"] == "complete")  # fmt: skip
        taken = [e["suite"] for e in manager.events("suite_taken")]
    assert taken == [high, low], (
        f"the manager took {taken}; the higher priority suite ({high}) must come first"
    )
    last_high = max(_started_at(lab, uuid) for uuid in high_tasks)
    first_low = min(_started_at(lab, uuid) for uuid in low_tasks)
    assert last_high < first_low, (
        f"a low priority task started ({first_low}) before the last high one ({last_high})"
    )


@pytest.fixture
def own_lab(tmp_path: Path) -> Iterator[tuple[Lab, Site, Cluster]]:
    """A coordinator (Site: restartable, fixed port) with the managers' short timings, over a
    PostgreSQL cluster of its own: stopping it must not touch other tests' databases."""
    with throwaway_cluster() as cluster:
        cluster.psql("CREATE DATABASE managers")
        site = Site(cluster.url("managers"), tmp_path)
        # A manager heard from within 10 s is not marked offline by the outage alone; leases
        # (3 s) do lapse during it, so tasks may be run again: exactly once must still hold.
        (tmp_path / "settings.toml").write_text(
            SETTINGS.replace("manager_offline = 3", "manager_offline = 10")
        )
        site.bootstrap()
        site.start()
        try:
            root = site.login()
            made = site.http.post(f"{API}/groups", json={"name": "lab"}, headers=root)
            assert made.status_code == 201, made.text
            issued = site.http.post(f"{API}/groups/lab/managers", headers=root)
            assert issued.status_code == 201, issued.text
            served = Served(site.url, site.http, site.log)
            yield Lab(served, root, issued.json()["token"]), site, cluster
        finally:
            site.close()


@pytest.mark.slow
def test_postgresql_stopped_and_started_mid_suite_every_task_succeeds_once(
    own_lab: tuple[Lab, Site, Cluster], tmp_path: Path
) -> None:
    lab, site, cluster = own_lab  # noqa: F811
    done = tmp_path / "done"
    done.mkdir()
    suite = lab.suite(worker_schedule={"count": 2, "prefetch": 4})
    tasks = lab.submit(suite, [_sh(f"sleep 0.2; touch {done}/$SHIPYARD_TASK")] * 30,
                       max_attempts=5)  # fmt: skip
    with _manager(lab, tmp_path) as manager:
        _until("a few tasks done", lambda: len(list(done.iterdir())) >= 6)
        stop_postgres(cluster)
        try:
            # The outage is seen: the coordinator answers 503, the manager goes on trying.
            answer = site.http.get(f"{API}/suites/{suite}", headers=lab.root)
            assert answer.status_code == 503, (answer.status_code, answer.text)
            time.sleep(2)  # past the lease: the coordinator recovers those tasks afterwards
            assert manager.process.poll() is None, f"the manager left:\n{manager.said()}"
        finally:
            start_postgres(cluster)
        _until("the suite complete after the outage",
               lambda: (answer := site.http.get(f"{API}/suites/{suite}", headers=lab.root))
               .status_code == 200 and answer.json()["state"] == "complete", 120)  # fmt: skip
        assert manager.process.poll() is None, f"the manager left:\n{manager.said()}"
        _until("the manager through its suite", lambda: manager.events("suite_done"), 30)
    for uuid in tasks:
        result = lab.get(f"/tasks/{uuid}/result")
        outcomes = [a["outcome"] for a in result["attempts"]]
        assert result["state"] == "succeeded", result
        assert outcomes.count("succeeded") == 1, f"task {uuid}: attempts {outcomes}"
        assert set(outcomes) <= {"succeeded", "lost"}, f"task {uuid}: attempts {outcomes}"
    counters = lab.get(f"/suites/{suite}")["counters"]
    assert counters["done"] == 30 and counters["failed"] == 0, counters
    assert sorted(p.name for p in done.iterdir()) == sorted(tasks)
    assert "Traceback" not in site.log.read_text(), site.log.read_text()[-4000:]


def test_each_suite_runs_only_on_the_manager_holding_its_tags(
    lab: Lab,  # noqa: F811
    tmp_path: Path,
) -> None:
    second = lab.served.http.post(f"{API}/groups/lab/managers", headers=lab.root)
    assert second.status_code == 201, second.text
    other = Lab(lab.served, lab.root, second.json()["token"])
    # The digest's matrix, smaller: A [gpu] → M1 only; B [cpu, linux] → M2 only; C [tpu] →
    # nobody (it waits).
    a = lab.suite(name="A", tags=["gpu"], worker_schedule={"count": 1, "prefetch": 2})
    b = lab.suite(name="B", tags=["cpu", "linux"], worker_schedule={"count": 1, "prefetch": 2})
    c = lab.suite(name="C", tags=["tpu"], worker_schedule={"count": 1, "prefetch": 2})
    tasks = {s: lab.submit(s, [_sh("sleep 0.1")] * 4) for s in (a, b, c)}
    with (
        _manager(lab, tmp_path, "m1", tags="gpu,linux,x86_64") as one,
        _manager(other, tmp_path, "m2", tags="cpu,linux,arm64") as two,
    ):
        m1, m2 = _manager_id(lab, "gpu,linux,x86_64"), _manager_id(lab, "arm64,cpu,linux")
        for suite in (a, b):
            _until(f"suite {suite} complete",
                   lambda s=suite: lab.get(f"/suites/{s}")["state"] == "complete")  # fmt: skip
        _until("both managers through their suite",
               lambda: one.events("idle") and two.events("idle"))  # fmt: skip
        for manager, only in ((one, "A"), (two, "B")):
            took = [e["name"] for e in manager.events("suite_taken")]
            assert took == [only], f"a manager took suites {took}, not only {only} (its tags')"
    for suite, manager in ((a, m1), (b, m2)):
        for uuid in tasks[suite]:
            runners = [x["worker_id"] for x in _attempts(lab, uuid)]
            assert runners == [manager], (
                f"task {uuid} of suite {suite} ran on {runners}, not only on {manager}"
            )
    waiting = lab.get(f"/suites/{c}")
    assert waiting["counters"]["pending"] == 4, waiting
    for uuid in tasks[c]:
        result = lab.get(f"/tasks/{uuid}/result")
        assert result["state"] == "queued" and result["attempts"] == [], result
    assert _one(one, "suite_done")["completed"] == 4
    assert _one(two, "suite_done")["completed"] == 4
