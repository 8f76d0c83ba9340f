"""The claims walk their index in order and stop after the n asked for (issue 13's fetch p95
<= 5 ms, issue 14's for node managers): checked on PostgreSQL's own plan, with the rows the
scan read counted by EXPLAIN ANALYZE — never by a clock — with the table's statistics absent
(right after a bulk submit) and present (after ANALYZE).

What each broke before: a node manager's FETCH_SUITE read and sorted every queued task of its
suite (before revision 0006_suite_claim); a worker's FETCH, once the table had statistics, read
every queued task of its group through the GIN tags index and sorted them (a bare
"tags <@ run-time value" is estimated to hold for 0.5% of rows)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from shipyard.coordinator import migrate, queries
from tests.postgres import pg_cluster, pg_url  # noqa: F401  (fixtures)

QUEUED = 20_000
LIMIT = 32
WORKER = "00000000-0000-4000-8000-000000000001"

CLAIMS = {"worker's FETCH": ("ix_tasks_claim", queries.FETCH),
          "manager's FETCH_SUITE": ("ix_tasks_suite_claim", queries.FETCH_SUITE)}  # fmt: skip


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


@pytest.mark.parametrize("claim", list(CLAIMS))
@pytest.mark.parametrize("analyzed", [False, True], ids=["no-statistics", "analyzed"])
def test_a_claim_walks_its_index_and_stops_after_n(pg_url: str, claim: str, analyzed: bool) -> None:  # noqa: F811
    index, sql = CLAIMS[claim]
    migrate.upgrade(pg_url)
    with psycopg.connect(migrate.libpq_url(pg_url), autocommit=True, row_factory=dict_row) as db:
        db.execute("INSERT INTO workers (id, group_id, tags) VALUES (%s, 1, '{cpu}')", (WORKER,))
        suites = [
            db.execute("INSERT INTO suites (group_id, creator_id, tags) VALUES (1, 1, '{cpu}') "
                       "RETURNING id").fetchone()["id"]  # type: ignore[index]
            for _ in range(2)
        ]  # fmt: skip
        # Another suite's tasks and lone tasks of the group beside the suite's.
        for suite, count in ((suites[1], QUEUED // 2), (None, QUEUED // 2), (suites[0], QUEUED)):
            db.execute(
                "INSERT INTO tasks (group_id, creator_id, command, tags, suite_id, priority) "
                "SELECT 1, 1, ARRAY['true'], '{cpu}', %s, i %% 3 FROM generate_series(1, %s) i",
                (suite, count),
            )
        if analyzed:
            db.execute("ANALYZE tasks")
        params = {"worker": WORKER, "limit": LIMIT, "lease": 60, "suite": suites[0]}
        with db.transaction(force_rollback=True):
            row = db.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params).fetchone()
            plan = row["QUERY PLAN"][0]["Plan"]  # type: ignore[index]
        scans = [(n["Node Type"], n.get("Index Name"), n["Actual Rows"])
                 for n in _nodes(plan) if n.get("Alias") == "t"]  # fmt: skip
        assert [scan[:2] for scan in scans] == [("Index Scan", index)], (
            f"the {claim} does not walk {index}: (node, index, rows) {scans}"
        )
        assert scans[0][2] == LIMIT, f"the scan read {scans[0][2]} rows, not the {LIMIT} asked"
        claimed = db.execute(sql, params).fetchall()
        assert [r["priority"] for r in claimed] == [2] * LIMIT, "highest priority first"
        ids = [r["id"] for r in claimed]
        assert ids == sorted(ids), "then oldest first"
