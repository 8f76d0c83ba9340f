"""Port claims (shipyard.engine.portclaims): a port one fleet took is skipped by another until
the first has let it go, and allocation takes claims into account (shipyard.engine.wiring)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shipyard.engine.portclaims import PortClaims, claim_file_name, claims_dir
from shipyard.engine.wiring import allocate_ports
from shipyard.errors import ShipyardError
from shipyard.plan.model import PlannedCommand, PlannedService


def test_a_claimed_port_is_refused_to_another_fleet_until_released(tmp_path: Path) -> None:
    first, second = PortClaims(tmp_path), PortClaims(tmp_path)
    assert first.claim("127.0.0.1", 8100)
    assert first.claim("127.0.0.1", 8100), "a fleet may ask again for a port it holds"
    assert not second.claim("127.0.0.1", 8100), "another fleet must not get a held port"
    assert second.claim("127.0.0.1", 8101)
    assert second.claim("node2", 8100), "the same port on another host is another port"
    first.release()
    assert second.claim("127.0.0.1", 8100), "a released port can be claimed"
    assert second.held() == [("127.0.0.1", 8100), ("127.0.0.1", 8101), ("node2", 8100)]
    second.release()
    assert second.held() == []


def test_a_claims_folder_that_cannot_be_used_claims_nothing_and_stops_nothing(
    tmp_path: Path,
) -> None:
    in_the_way = tmp_path / "file"
    in_the_way.write_text("")
    assert PortClaims(in_the_way).claim("127.0.0.1", 8100)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    first, second = PortClaims(shared), PortClaims(shared)
    assert first.claim("127.0.0.1", 8100) and second.claim("127.0.0.1", 8100)
    assert first.held() == [], "nothing is locked in a folder others may write into"
    assert not any(shared.iterdir())


@pytest.mark.parametrize(
    ("host", "port", "name"),
    [
        ("127.0.0.1", 8100, "127.0.0.1-8100.lock"),
        ("::1", 9000, "__1-9000.lock"),
        ("../etc/x", 1, ".._etc_x-1.lock"),
        ("user@node[01]", 22, "user_node_01_-22.lock"),
    ],
)
def test_a_claim_file_is_named_after_its_host_and_port(host: str, port: int, name: str) -> None:
    assert claim_file_name(host, port) == name
    assert "/" not in claim_file_name(host, port)


def test_the_claims_folder_is_chosen_or_beside_the_supervisor_registry() -> None:
    assert claims_dir({"SHIPYARD_PORT_CLAIMS_DIR": "/x/claims"}) == Path("/x/claims")
    assert claims_dir({"SHIPYARD_SUPERVISORS_DIR": "/r/supervisors"}) == Path("/r/ports")


def service(name: str, port: int | str) -> PlannedService:
    return PlannedService(
        name=name, command=PlannedCommand(["true"]), env={}, workdir=".", stage=0, port=port
    )


def test_allocation_skips_ports_another_fleet_holds(tmp_path: Path) -> None:
    base = 40000 + os.getpid() % 20000  # probed free by binding: a quiet range
    other = PortClaims(tmp_path)
    assert other.claim("127.0.0.1", base) and other.claim("127.0.0.1", base + 1)
    ours = PortClaims(tmp_path)
    ports = allocate_ports([service("a", "auto"), service("b", "auto")], base, claim=ours.claim)
    assert base not in ports.values() and base + 1 not in ports.values(), ports
    assert len(set(ports.values())) == 2
    assert sorted(p for _, p in ours.held()) == sorted(ports.values()), "ours are held"


def test_an_explicit_port_another_fleet_holds_is_a_clear_error(tmp_path: Path) -> None:
    port = 40000 + os.getpid() % 20000
    other = PortClaims(tmp_path)
    assert other.claim("127.0.0.1", port)
    with pytest.raises(ShipyardError) as raised:
        allocate_ports([service("api", port)], 8100, claim=PortClaims(tmp_path).claim)
    assert raised.value.message == (
        f"port {port} of service 'api' is taken by another fleet of yours that is coming up "
        "on this machine"
    )
