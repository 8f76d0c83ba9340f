"""The HTTP address decisions of ``shipyard mcp --http`` (pure functions, table tests)."""

from __future__ import annotations

import pytest

from shipyard.errors import ShipyardError
from shipyard.mcpserver.serving import check_bind, parse_address


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:8765", ("127.0.0.1", 8765)),
        ("8765", ("127.0.0.1", 8765)),
        (":8765", ("127.0.0.1", 8765)),
        ("localhost:1", ("localhost", 1)),
        ("[::1]:65535", ("::1", 65535)),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
    ],
)
def test_an_address_is_parsed(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:x", "", "host:"])
def test_a_bad_port_is_refused(text: str) -> None:
    with pytest.raises(ShipyardError, match="the port must be a number from 1 to 65535"):
        parse_address(text)


@pytest.mark.parametrize(
    ("host", "allow_remote", "token", "refusal"),
    [
        ("127.0.0.1", False, None, None),
        ("127.8.9.10", False, None, None),
        ("::1", False, None, None),
        ("localhost", False, None, None),
        ("0.0.0.0", False, None, "not a loopback address"),
        ("192.0.2.7", False, "t", "not a loopback address"),
        ("example.org", False, None, "not a loopback address"),
        ("0.0.0.0", True, None, "SHIPYARD_MCP_TOKEN is not set"),
        ("0.0.0.0", True, "", "SHIPYARD_MCP_TOKEN is not set"),
        ("0.0.0.0", True, "a-long-secret", None),
    ],
)
def test_a_non_loopback_bind_needs_the_flag_and_a_token(
    host: str, allow_remote: bool, token: str | None, refusal: str | None
) -> None:
    if refusal is None:
        check_bind(host, allow_remote=allow_remote, token=token)
        return
    with pytest.raises(ShipyardError, match=refusal) as refused:
        check_bind(host, allow_remote=allow_remote, token=token)
    assert refused.value.hint
