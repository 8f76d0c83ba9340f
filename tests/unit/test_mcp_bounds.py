"""The pure rules of bounded MCP answers (shipyard.mcpserver.bounds): the limit's setting, the
cursor, what is cut and what the summary says."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shipyard.errors import ShipyardError
from shipyard.mcpserver import bounds


def units(count: int, failed: frozenset[int] = frozenset()) -> list[dict[str, Any]]:
    return [
        {
            "name": f"u{i:04d}",
            "state": "failed" if i in failed else "succeeded",
            "duration_seconds": float(i % 50),
            "exit_code": 1 if i in failed else 0,
            "reason": "exit code 1" if i in failed else None,
        }
        for i in range(count)
    ]


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, bounds.DEFAULT_MAX_CHARS),
        ({bounds.MAX_CHARS_VARIABLE: ""}, bounds.DEFAULT_MAX_CHARS),
        ({bounds.MAX_CHARS_VARIABLE: "80000"}, 80_000),
        ({bounds.MAX_CHARS_VARIABLE: " 4000 "}, 4_000),
        ({bounds.MAX_CHARS_VARIABLE: "3999"}, None),
        ({bounds.MAX_CHARS_VARIABLE: "lots"}, None),
        ({bounds.MAX_CHARS_VARIABLE: "-5"}, None),
    ],
)
def test_the_limit_comes_from_the_environment(
    environ: dict[str, str], expected: int | None
) -> None:
    if expected is None:
        with pytest.raises(ShipyardError, match=bounds.MAX_CHARS_VARIABLE) as raised:
            bounds.max_chars(environ)
        assert raised.value.hint and "80000" in raised.value.hint
    else:
        assert bounds.max_chars(environ) == expected


def test_a_cursor_round_trips_and_names_its_tool() -> None:
    offsets = {("units",): 120, ("snapshots", 0, "units"): 7}
    assert bounds.decode_cursor("t", bounds.encode_cursor("t", offsets)) == offsets


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor",
        bounds.encode_cursor("another_tool", {("units",): 5}),
        bounds.encode_cursor("t", {("units",): -1}),
        "",
        "e30",  # {} : no offsets key
    ],
)
def test_a_cursor_not_given_by_the_tool_is_refused(cursor: str) -> None:
    with pytest.raises(ShipyardError, match="is not one t gave"):
        bounds.decode_cursor("t", cursor)


def test_a_small_answer_is_sent_as_it_is() -> None:
    data = {"id": "e1", "units": units(3)}
    chosen = bounds.bound(data, tool="t", budget=10_000, cursor=None, pageable=True)
    assert chosen.data is data and not chosen.truncated


@pytest.mark.parametrize(
    ("budget", "count"),
    [(2_000, 100), (5_000, 1_000), (20_000, 10_000)],
)
def test_a_long_list_is_cut_to_the_budget_with_its_summary_first(budget: int, count: int) -> None:
    data = {"id": "e1", "state": "failed", "units": units(count, frozenset({3, 77}))}
    chosen = bounds.bound(data, tool="t", budget=budget, cursor=None, pageable=True)
    answer = chosen.data
    assert chosen.truncated and bounds.size(answer) <= budget
    assert list(answer)[:3] == ["truncated", "truncation", "next_cursor"]
    summary = answer["truncation"]["units"]
    assert summary["total"] == count and summary["shown"] == len(answer["units"]) > 0
    assert summary["by_state"] == {"failed": 2, "succeeded": count - 2}
    assert [f["name"] for f in summary["failures"]] == ["u0003", "u0077"]
    assert summary["slowest"][0]["duration_seconds"] == 49.0
    assert answer["units"] == data["units"][: len(answer["units"])]  # the first ones, in order
    assert answer["id"] == "e1" and answer["state"] == "failed"  # the record's other fields


def test_pages_follow_one_another_to_the_end_without_a_gap() -> None:
    data = {"units": units(700)}
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(100):
        answer = bounds.bound(data, tool="t", budget=3_000, cursor=cursor, pageable=True).data
        seen += [unit["name"] for unit in answer["units"]]
        cursor = answer.get("next_cursor")
        if cursor is None:
            break
    assert seen == [unit["name"] for unit in data["units"]]


def test_a_log_keeps_its_last_lines_and_pages_backwards() -> None:
    lines = [{"unit": "a", "text": f"line {n}"} for n in range(2_000)]
    first = bounds.bound({"lines": lines}, tool="t", budget=3_000, cursor=None, pageable=True)
    shown = [line["text"] for line in first.data["lines"]]
    assert shown[-1] == "line 1999" and shown == [
        f"line {n}" for n in range(2000 - len(shown), 2000)
    ]
    second = bounds.bound(
        {"lines": lines}, tool="t", budget=3_000, cursor=first.data["next_cursor"], pageable=True
    ).data
    assert second["lines"][-1]["text"] == f"line {1999 - len(shown)}"


def test_a_table_of_many_keys_is_cut_but_a_record_is_not() -> None:
    steps = {f"s{n:03d}": {"p50": 1.0, "p95": 2.0, "runs": 10} for n in range(500)}
    data = {"name": "x", "steps": steps}
    answer = bounds.bound(data, tool="t", budget=3_000, cursor=None, pageable=True).data
    assert answer["truncated"] and 0 < len(answer["steps"]) < 500
    assert answer["truncation"]["steps"]["total"] == 500 and answer["name"] == "x"


def test_a_huge_text_is_cut_to_its_end() -> None:
    data = {"lines": [{"text": "x" * 100_000 + "THE END"}]}
    answer = bounds.bound(data, tool="t", budget=5_000, cursor=None, pageable=True).data
    text = answer["lines"][0]["text"]
    assert text.endswith("THE END") and len(text) < 3_000 and "characters cut" in text


def test_a_tool_that_acts_gets_no_cursor_but_a_hint() -> None:
    data = {"units": units(1_000)}
    answer = bounds.bound(data, tool="run", budget=3_000, cursor=None, pageable=False).data
    assert answer["truncated"] and "next_cursor" not in answer
    assert "get_pipeline_status" in answer["truncation"]["hint"]


def test_the_units_inside_a_few_items_are_cut_not_the_items() -> None:
    data = {"snapshots": [{"at": "now", "units": units(2_000)}]}
    answer = bounds.bound(data, tool="t", budget=4_000, cursor=None, pageable=True).data
    assert len(answer["snapshots"]) == 1 and 0 < len(answer["snapshots"][0]["units"]) < 2_000
    assert "snapshots.0.units" in answer["truncation"]


def test_the_final_measure_lowers_the_budget_until_it_holds() -> None:
    data = {"units": units(3_000)}

    def fits(answer: dict[str, Any]) -> bool:  # the whole answer twice over, escaped
        return 2 * len(json.dumps(json.dumps(answer))) <= 20_000

    chosen = bounds.bound(data, tool="t", budget=15_000, cursor=None, pageable=True, fits=fits)
    assert chosen.fits and fits(chosen.data)
