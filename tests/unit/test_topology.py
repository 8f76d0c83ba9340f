"""The topology resolver, as tables: connections and start order per pattern."""

from __future__ import annotations

import pytest

from shipyard.topology import TopologyError, resolve

SERVICES = ["controller", "weather", "maps"]


def test_hub_spoke_starts_spokes_first_and_wires_the_hub_to_them() -> None:
    wiring = resolve(SERVICES, {"type": "hub-spoke", "hub": "controller"}, {})
    assert wiring.connections == {"controller": ["weather", "maps"]}
    assert wiring.stages == [["weather", "maps"], ["controller"]]


def test_pipeline_starts_from_the_last_stage() -> None:
    wiring = resolve(
        ["a", "b", "c", "d"], {"type": "pipeline", "stages": ["a", ["b", "c"], "d"]}, {}
    )
    assert wiring.connections == {"a": ["b", "c"], "b": ["d"], "c": ["d"]}
    assert wiring.stages == [["d"], ["b", "c"], ["a"]]


def test_dag_edges_and_explicit_depends_on_combine() -> None:
    wiring = resolve(["a", "b", "c"], {"type": "dag", "edges": {"a": ["b"]}}, {"b": ["c"]})
    assert wiring.stages == [["c"], ["b"], ["a"]]


def test_mesh_connects_everyone_and_starts_together() -> None:
    wiring = resolve(SERVICES, {"type": "mesh"}, {})
    assert wiring.connections["maps"] == ["controller", "weather"]
    assert wiring.stages == [SERVICES]


def test_hierarchical_levels() -> None:
    wiring = resolve(
        ["root", "m1", "m2", "leaf"],
        {"type": "hierarchical", "levels": [["root"], ["m1", "m2"], ["leaf"]]},
        {},
    )
    assert wiring.connections == {"root": ["m1", "m2"], "m1": ["leaf"], "m2": ["leaf"]}
    assert wiring.stages == [["leaf"], ["m1", "m2"], ["root"]]


@pytest.mark.parametrize(
    ("deployment", "stages"),
    [
        ("staged", [["weather", "maps"], ["controller"]]),
        ("sequential", [["weather"], ["maps"], ["controller"]]),
        ("parallel", [["weather", "maps", "controller"]]),
    ],
)
def test_deployment_strategies(deployment: str, stages: list[list[str]]) -> None:
    topology = {"type": "hub-spoke", "hub": "controller"}
    assert resolve(SERVICES, topology, {}, deployment=deployment).stages == stages


@pytest.mark.parametrize(
    ("topology", "depends_on", "message"),
    [
        ({"type": "hub-spoke", "hub": "ghost"}, {}, "'ghost', which is not a service"),
        ({"type": "hub-spoke"}, {}, "needs a hub"),
        ({"type": "pipeline", "stages": ["a"]}, {}, "at least two stages"),
        ({"type": "dag", "edges": {"a": ["b"], "b": ["a"]}}, {}, "cannot be started in order"),
        (None, {"a": ["b"], "b": ["a"]}, "a → b → a"),
    ],
)
def test_bad_topologies_say_why(
    topology: dict[str, object] | None, depends_on: dict[str, list[str]], message: str
) -> None:
    with pytest.raises(TopologyError, match=message):
        resolve(["a", "b"], topology, depends_on)


def test_replicas_are_named_and_wired_everywhere_their_service_is() -> None:
    from shipyard.topology import expand_replicas

    names, topology, depends_on, origin = expand_replicas(
        {"hub": 1, "worker": 3, "db": 1},
        {"type": "hub-spoke", "hub": "hub", "spokes": ["worker"]},
        {"worker": ["db"]},
    )
    assert names == ["hub", "worker-1", "worker-2", "worker-3", "db"]
    assert origin["worker-2"] == "worker" and origin["db"] == "db"
    assert topology is not None and topology["spokes"] == ["worker-1", "worker-2", "worker-3"]
    assert depends_on["worker-3"] == ["db"]
    wiring = resolve(names, topology, depends_on)
    assert wiring.connections["hub"] == ["worker-1", "worker-2", "worker-3"]
    assert wiring.stages == [["db"], ["worker-1", "worker-2", "worker-3"], ["hub"]]


def test_a_replicated_hub_is_refused() -> None:
    from shipyard.topology import expand_replicas

    with pytest.raises(TopologyError, match="cannot have replicas"):
        expand_replicas({"hub": 2, "w": 1}, {"type": "hub-spoke", "hub": "hub"}, {})
