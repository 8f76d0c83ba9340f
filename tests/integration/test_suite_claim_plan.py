"""A node manager's fetch walks its suite's queued tasks in order and stops after the n it
asked for (issue 14's fetch p95 <= 5 ms): checked on PostgreSQL's own plan, with the rows
the scan read counted by EXPLAIN ANALYZE — never by a clock. Before revision 0006_suite_claim
and the FETCH_SUITE that fits it, the scan read every queued task of the suite and sorted them
(20,000 rows here, 100,000 in the benchmark)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from shipyard.coordinator import migrate, queries
from tests.postgres import pg_cluster, pg_url  # noqa: F401  (fixtures)

QUEUED = 20_000
WORKER = "00000000-0000-4000-8000-000000000001"


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


@pytest.mark.parametrize("analyzed", [False, True], ids=["fresh-statistics-absent", "analyzed"])
def test_the_suite_claim_walks_its_index_and_stops_after_n(pg_url: str, analyzed: bool) -> None:  # noqa: F811
    migrate.upgrade(pg_url)
    with psycopg.connect(migrate.libpq_url(pg_url), autocommit=True, row_factory=dict_row) as db:
        db.execute("INSERT INTO workers (id, group_id, tags) VALUES (%s, 1, '{cpu}')", (WORKER,))
        suites = [
            db.execute("INSERT INTO suites (group_id, creator_id, tags) VALUES (1, 1, '{cpu}') "
                       "RETURNING id").fetchone()["id"]  # type: ignore[index]
            for _ in range(2)
        ]  # fmt: skip
        for suite, count in ((suites[1], QUEUED // 2), (suites[0], QUEUED)):  # another suite too
            db.execute(
                "INSERT INTO tasks (group_id, creator_id, command, tags, suite_id, priority) "
                "SELECT 1, 1, ARRAY['true'], '{cpu}', %s, i %% 3 FROM generate_series(1, %s) i",
                (suite, count),
            )
        if analyzed:
            db.execute("ANALYZE tasks")
        params = {"worker": WORKER, "limit": 32, "lease": 60, "suite": suites[0]}
        with db.transaction(force_rollback=True):
            row = db.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + queries.FETCH_SUITE, params)
            plan = row.fetchone()["QUERY PLAN"][0]["Plan"]  # type: ignore[index]
        scans = [(n["Node Type"], n.get("Index Name"), n["Actual Rows"])
                 for n in _nodes(plan) if n.get("Alias") == "t"]  # fmt: skip
        assert [scan[:2] for scan in scans] == [("Index Scan", "ix_tasks_suite_claim")], (
            f"the claim does not walk the suite's claim index: (node, index, rows) {scans}"
        )
        assert scans[0][2] == 32, f"the scan read {scans[0][2]} of {QUEUED} rows, not the 32 asked"
        claimed = db.execute(queries.FETCH_SUITE, params).fetchall()
        assert [r["priority"] for r in claimed] == [2] * 32, "highest priority first"
        ids = [r["id"] for r in claimed]
        assert ids == sorted(ids), "then oldest first"
