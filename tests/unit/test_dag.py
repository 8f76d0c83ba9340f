from __future__ import annotations

from shipyard.dag import critical_path, find_cycle, stages


def test_stages_group_by_longest_dependency_chain() -> None:
    needs = {"a": [], "b": [], "c": ["a"], "d": ["a", "c"], "e": ["b"]}
    assert stages(needs) == [["a", "b"], ["c", "e"], ["d"]]


def test_cycle_is_reported_as_a_path_back_to_its_start() -> None:
    needs = {"x": [], "a": ["b"], "b": ["c"], "c": ["a"]}
    cycle = find_cycle(needs)
    assert cycle is not None
    assert cycle[0] == cycle[-1]
    assert set(cycle) == {"a", "b", "c"}


def test_no_cycle_in_a_dag_and_missing_dependencies_are_ignored() -> None:
    assert find_cycle({"a": [], "b": ["a", "ghost"], "c": ["b"]}) is None


def test_long_chain_does_not_recurse() -> None:
    needs = {f"s{i}": [f"s{i - 1}"] if i else [] for i in range(20_000)}
    assert find_cycle(needs) is None
    assert len(stages(needs)) == 20_000


def test_critical_path_by_count_and_by_duration() -> None:
    needs = {
        "a": [],
        "b": [],
        "slow": ["a"],
        "fast1": ["b"],
        "fast2": ["fast1"],
        "end": ["slow", "fast2"],
    }
    path, length = critical_path(needs)
    assert path == ["b", "fast1", "fast2", "end"] and length == 4
    timed = {"a": 1, "b": 1, "slow": 10, "fast1": 1, "fast2": 1, "end": 1}
    path, length = critical_path(needs, timed)
    assert path == ["a", "slow", "end"] and length == 12
