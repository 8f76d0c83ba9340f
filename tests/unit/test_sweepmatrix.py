"""The pure decisions of a sweep: matrix check and expansion, point hash, failure threshold,
statistics per value, best point."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from shipyard.errors import ShipyardError
from shipyard.plan import sweepmatrix as sm
from shipyard.sweep import SweepPoint


@dataclass(frozen=True)
class P:
    type: str = "str"
    choices: list[object] | None = None


DECLARED = {
    "block": P("str", ["1M", "4M", "16M"]),
    "nprocs": P("int"),
    "rate": P("float"),
    "fast": P("bool"),
    "label": P("str"),
}


@pytest.mark.parametrize(
    ("matrix", "zips", "expected"),
    [
        ({"a": [1, 2]}, [], [{"a": 1}, {"a": 2}]),
        (
            {"a": [1, 2], "b": ["x", "y"]},
            [],
            [{"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 2, "b": "x"}, {"a": 2, "b": "y"}],
        ),
        ({"a": [1, 2], "b": ["x", "y"]}, [["a", "b"]], [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]),
        (
            {"a": [1, 2], "b": ["x", "y"], "c": [True]},
            [["b", "a"]],
            [{"b": "x", "a": 1, "c": True}, {"b": "y", "a": 2, "c": True}],
        ),
        (  # two zip groups crossed, as Jarvis's loop: [[a, b], [c, d]]
            {"a": [1, 2], "b": [3, 4], "c": [5, 6], "d": [7, 8]},
            [["a", "b"], ["c", "d"]],
            [
                {"a": 1, "b": 3, "c": 5, "d": 7},
                {"a": 1, "b": 3, "c": 6, "d": 8},
                {"a": 2, "b": 4, "c": 5, "d": 7},
                {"a": 2, "b": 4, "c": 6, "d": 8},
            ],
        ),
    ],
)
def test_expand(matrix: dict, zips: list, expected: list) -> None:
    assert sm.expand(matrix, zips) == expected


@pytest.mark.parametrize(
    ("matrix", "zips", "message"),
    [
        ({"a": [1, 2], "b": [1]}, [["a", "b"]], "as many values each: a has 2, b has 1"),
        ({"a": [1]}, [["a", "z"]], "names 'z', which the sweep does not vary"),
        ({"a": [1], "b": [2]}, [["a"], ["a", "b"]], "'a' is in two zip groups"),
        ({"a": [1]}, [[]], "a zip group is empty"),
        ({f"p{i}": list(range(10)) for i in range(5)}, [], "100000 points, more than 10000"),
    ],
)
def test_expand_refuses(matrix: dict, zips: list, message: str) -> None:
    with pytest.raises(ShipyardError, match=message):
        sm.expand(matrix, zips)


@pytest.mark.parametrize(
    ("matrix", "expected"),
    [
        ({"nprocs": ["1", "2", "0x10"]}, {"nprocs": [1, 2, 16]}),
        ({"rate": ["0.5", 2]}, {"rate": [0.5, 2.0]}),
        ({"fast": ["yes", "off"]}, {"fast": [True, False]}),
        ({"block": ["1M", "16M"]}, {"block": ["1M", "16M"]}),
    ],
)
def test_check_matrix_coerces(matrix: dict, expected: dict) -> None:
    assert sm.check_matrix(matrix, DECLARED) == expected


@pytest.mark.parametrize(
    ("matrix", "message", "hint"),
    [
        ({}, "no parameters to vary", "-m name=v1,v2"),
        ({"nproc": [1]}, "'nproc' is not a parameter of the spec", "did you mean 'nprocs'"),
        ({"zzz": [1]}, "'zzz' is not a parameter", "the spec declares: block, fast"),
        ({"nprocs": []}, "'nprocs' has no values", "-m nprocs=v1,v2"),
        ({"nprocs": "12"}, "'nprocs' has no values", None),
        ({"nprocs": ["two"]}, "'nprocs' is an int, and 'two' is not", "int values"),
        ({"rate": ["nan"]}, "'rate' is a float, and 'nan' is not", None),
        ({"block": ["2M"]}, "must be one of 1M, 4M, 16M; the sweep gives 2M", "among its choices"),
        ({"nprocs": ["4", "0x4"]}, "lists 4 twice", "--repeat"),
        ({"label": ["a\0b"]}, "NUL byte", None),
    ],
)
def test_check_matrix_refuses(matrix: dict, message: str, hint: str | None) -> None:
    with pytest.raises(ShipyardError, match=message) as caught:
        sm.check_matrix(matrix, DECLARED)
    if hint:
        assert hint in (caught.value.hint or "")


def test_check_matrix_no_parameters_declared() -> None:
    with pytest.raises(ShipyardError) as caught:
        sm.check_matrix({"a": [1]}, {})
    assert "declares no parameters" in (caught.value.hint or "")


def test_check_fixed() -> None:
    assert sm.check_fixed({"nprocs": "3"}, DECLARED, ["block"]) == {"nprocs": 3}
    with pytest.raises(ShipyardError, match="both swept"):
        sm.check_fixed({"block": "1M"}, DECLARED, ["block"])
    with pytest.raises(ShipyardError, match="'nope' is not a parameter"):
        sm.check_fixed({"nope": "1"}, DECLARED, [])


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        ({"a": 1, "b": "x"}, {"b": "x", "a": 1}, True),  # key order
        ({"a": 1}, {"a": 1.0}, False),  # a typed value: an int is not a float
        ({"a": 1}, {"a": "1"}, False),
        ({"a": True}, {"a": 1}, False),
        ({"a": 1}, {"a": 1, "b": 2}, False),  # a fixed parameter is part of the point
    ],
)
def test_point_hash(one: dict, other: dict, same: bool) -> None:
    assert (sm.point_hash(one) == sm.point_hash(other)) is same


def test_point_hash_after_coercion_is_the_spelling_free() -> None:
    first = sm.check_matrix({"nprocs": ["4"]}, DECLARED)
    second = sm.check_matrix({"nprocs": ["0x4"]}, DECLARED)
    assert sm.point_hash(sm.expand(first)[0]) == sm.point_hash(sm.expand(second)[0])


def test_plan_points_repeats_and_fixed() -> None:
    points = sm.plan_points([{"a": 1}, {"a": 2}], {"f": "x"}, 2)
    assert [(p.swept, p.repeat, p.position) for p in points] == [
        ({"a": 1}, 1, 0),
        ({"a": 1}, 2, 1),
        ({"a": 2}, 1, 2),
        ({"a": 2}, 2, 3),
    ]
    assert points[0].parameters == {"f": "x", "a": 1}
    assert points[0].point_hash == points[1].point_hash != points[2].point_hash
    with pytest.raises(ShipyardError, match="runs nothing"):
        sm.plan_points([{"a": 1}], {}, 0)


@pytest.mark.parametrize(
    ("failed", "total", "threshold", "stop"),
    [
        (0, 10, None, False),
        (10, 10, None, False),
        (0, 10, 0.0, False),
        (1, 10, 0.0, True),
        (1, 10, 0.1, False),  # exactly at the threshold: not past it
        (2, 10, 0.1, True),
        (5, 10, 0.5, False),
        (6, 10, 0.5, True),
        (1, 0, 0.1, False),
        (4, 4, 1.0, False),
    ],
)
def test_past_threshold(failed: int, total: int, threshold: float | None, stop: bool) -> None:
    assert sm.past_threshold(failed, total, threshold) is stop


def _point(params: dict, repeat: int, metrics: dict, state: str = "succeeded") -> SweepPoint:
    return SweepPoint(
        parameters=params,
        repeat=repeat,
        point_hash=sm.point_hash(params),
        state=state,
        metrics=metrics,
    )


POINTS = [
    _point({"n": 1, "b": "x"}, 1, {"bw": 10.0}),
    _point({"n": 1, "b": "x"}, 2, {"bw": 14.0}),
    _point({"n": 2, "b": "x"}, 1, {"bw": 30.0, "lat": 1.0}),
    _point({"n": 2, "b": "x"}, 2, {"bw": 99.0}, state="failed"),  # failed: left out
    _point({"n": 4, "b": "y"}, 1, {"bw": 20.0}),
    _point({"n": 4, "b": "y"}, 2, {"bw": 24.0}),
]


def test_parameter_stats() -> None:
    stats = {(s.parameter, s.value, s.metric): s for s in sm.parameter_stats(POINTS, ["n", "b"])}
    one = stats[("n", 1, "bw")]
    assert (one.count, one.mean, one.min, one.max) == (2, 12.0, 10.0, 14.0)
    assert one.std == pytest.approx(2.8284271, rel=1e-6)
    two = stats[("n", 2, "bw")]
    assert (two.count, two.mean, two.std) == (1, 30.0, 0.0)
    x = stats[("b", "x", "bw")]
    assert (x.count, x.mean, x.min, x.max) == (3, 18.0, 10.0, 30.0)
    assert ("n", 1, "lat") not in stats and stats[("n", 2, "lat")].mean == 1.0
    assert [key[:2] for key in stats][:3] == [("n", 1), ("n", 2), ("n", 2)]


@pytest.mark.parametrize(
    ("objective", "params", "repeat", "mean"),
    [
        ("bw:max", {"n": 2, "b": "x"}, 1, 30.0),
        ("bw:min", {"n": 1, "b": "x"}, 1, 12.0),
        ("lat:max", {"n": 2, "b": "x"}, 1, 1.0),
    ],
)
def test_best_point(objective: str, params: dict, repeat: int, mean: float) -> None:
    found = sm.best_point(POINTS, objective)
    assert found is not None
    best, value = found
    assert (best.parameters, best.repeat, value) == (params, repeat, mean)


def test_best_point_by_mean_not_by_one_repeat() -> None:
    points = [
        _point({"n": 1}, 1, {"bw": 100.0}),
        _point({"n": 1}, 2, {"bw": 0.0}),
        _point({"n": 2}, 1, {"bw": 60.0}),
        _point({"n": 2}, 2, {"bw": 60.0}),
    ]
    found = sm.best_point(points, "bw:max")
    assert found is not None and found[0].parameters == {"n": 2} and found[1] == 60.0


@pytest.mark.parametrize("objective", ["bw", "bw:best", ":max", "bw:MAX"])
def test_objective_refused(objective: str) -> None:
    with pytest.raises(ShipyardError, match="is not METRIC:max or METRIC:min"):
        sm.parse_objective(objective)


def test_best_point_none() -> None:
    assert sm.best_point(POINTS, None) is None
    assert sm.best_point(POINTS, "nothing:max") is None
