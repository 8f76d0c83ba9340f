"""How a fleet's units find each other: ports (allocated before anything starts), each
service's URL, and the environment that carries them (``PORT``, ``SHIPYARD_URL_<NAME>``,
``CONNECTED_AGENTS``…).

Pure but for :func:`port_is_free`, which asks the host by binding. Every function takes the
hosts the services run on (``hosts``: service → its runner's ``host``; ``127.0.0.1``, the local
runner's, where none is given), so nothing here assumes "this machine" beyond that default.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable, Mapping

from shipyard.errors import ShipyardError
from shipyard.plan.model import PlannedService

#: The host of the local runner: services listen on loopback.
HOST = "127.0.0.1"

_NO_HOSTS: Mapping[str, str] = {}


def port_is_free(port: int, host: str = HOST) -> bool:
    """Can a server bind ``port`` on ``host`` right now? (Bound and released at once.)"""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def allocate_ports(
    services: list[PlannedService],
    base: int,
    hosts: Mapping[str, str] = _NO_HOSTS,
    free: Mapping[str, Callable[[int], bool]] | None = None,
    claim: Callable[[str, int], bool] | None = None,
) -> dict[str, int]:
    """A port for every service that has one: explicit ones must be free on the service's host
    (checked before anything starts); ``auto`` ones get the next free port from ``base``,
    never one twice. ``free``: how a service's host is asked (a remote host's listening
    ports, from its runner), else :func:`port_is_free` here. ``claim(host, port)``: take the
    port for this fleet, False when another fleet holds it though nothing listens there yet
    (:class:`shipyard.engine.portclaims.PortClaims`)."""

    def is_free(service: str, port: int) -> bool:
        check = (free or {}).get(service)
        return check(port) if check is not None else port_is_free(port, hosts.get(service, HOST))

    def claimed(service: str, port: int) -> bool:
        return claim is None or claim(hosts.get(service, HOST), port)

    ports: dict[str, int] = {}
    for service in services:
        if isinstance(service.port, int):
            if not is_free(service.name, service.port):
                raise ShipyardError(
                    f"port {service.port} of service '{service.name}' is already in use",
                    hint="stop what listens there, pick another port, or use port: auto",
                )
            if not claimed(service.name, service.port):
                raise ShipyardError(
                    f"port {service.port} of service '{service.name}' is taken by another "
                    "fleet of yours that is coming up on this machine",
                    hint="see `shipyard ps --all`; pick another port, or use port: auto",
                )
            ports[service.name] = service.port
    taken = set(ports.values())
    candidate = base

    def unusable(service: str, port: int) -> bool:
        # The probe before the claim: a port something listens on is not claimed in vain.
        return port in taken or not is_free(service, port) or not claimed(service, port)

    for service in services:
        if service.port != "auto":
            continue
        # Bounded before port_is_free: bind() raises OverflowError past 65535.
        while candidate <= 65535 and unusable(service.name, candidate):
            candidate += 1
        if candidate > 65535:
            raise ShipyardError("no free port left above execution.base_port")
        ports[service.name] = candidate
        taken.add(candidate)
        candidate += 1
    return ports


def service_url(port: int, host: str = HOST) -> str:
    return f"http://{host}:{port}"


def wiring_env(
    service: PlannedService, ports: Mapping[str, int], hosts: Mapping[str, str] = _NO_HOSTS
) -> dict[str, str]:
    """PORT and friends, the service's own URL, and the URLs of the services it talks to."""
    env: dict[str, str] = {}
    port = ports.get(service.name)
    if port is not None:
        env.update(
            PORT=str(port),
            SHIPYARD_PORT=str(port),
            AGENT_PORT=str(port),
            SHIPYARD_SERVICE_URL=service_url(port, hosts.get(service.name, HOST)),
        )
    env.update(connection_env(service.connects_to, ports, hosts))
    return env


def connection_env(
    targets: Iterable[str], ports: Mapping[str, int], hosts: Mapping[str, str] = _NO_HOSTS
) -> dict[str, str]:
    """``SHIPYARD_URL_<NAME>`` of each target that has a port, and all of them, comma-separated,
    as ``CONNECTED_AGENTS``."""
    env: dict[str, str] = {}
    urls = []
    for other in targets:
        if other in ports:
            url = service_url(ports[other], hosts.get(other, HOST))
            urls.append(url)
            env[f"SHIPYARD_URL_{other.upper().replace('-', '_').replace('.', '_')}"] = url
    env["CONNECTED_AGENTS"] = ",".join(urls)
    return env
