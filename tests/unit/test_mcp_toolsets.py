"""The MCP server's tool sets and HTTP guards as pure decisions (issue 18 §2, §4): which tools
a mode lists, which groups --tools names, which Origin may reach the tools."""

from __future__ import annotations

import pytest

from shipyard.errors import ShipyardError
from shipyard.mcpserver import toolsets
from shipyard.mcpserver.serving import check_origins, origin_allowed
from shipyard.mcpserver.toolkit import Kind, registered


def names(groups: tuple[str, ...] | None = None, *, read_only: bool = False) -> list[str]:
    return [spec.name for spec in toolsets.select(registered(), groups, read_only=read_only)]


def test_every_tool_is_in_exactly_one_group() -> None:
    listed = [name for members in toolsets.GROUPS.values() for name in members]
    assert sorted(listed) == sorted(spec.name for spec in registered())
    assert len(listed) == len(set(listed)), "a tool is in two groups"


def test_the_default_set_stays_under_40_tools() -> None:
    default = names()
    assert len(default) < toolsets.DEFAULT_LIMIT, f"{len(default)} tools by default: {default}"
    assert len(default) < len(registered()), "the default set should leave some groups out"


def test_read_only_lists_only_read_only_tools_of_every_group() -> None:
    listed = toolsets.select(registered(), read_only=True)
    assert listed and {spec.kind for spec in listed} == {Kind.READ}
    assert len(listed) == sum(spec.kind is Kind.READ for spec in registered())
    assert "stop_pipeline" not in {spec.name for spec in listed}


@pytest.mark.parametrize(
    ("text", "groups"),
    [
        (None, None),
        ("pipelines", ("pipelines",)),
        ("pipelines, fleets", ("pipelines", "fleets")),
        ("fleets,", ("fleets",)),
        ("all", tuple(toolsets.GROUPS)),
        ("sweeps,all", tuple(toolsets.GROUPS)),
    ],
)
def test_tool_groups_are_parsed(text: str | None, groups: tuple[str, ...] | None) -> None:
    assert toolsets.parse_groups(text) == groups


@pytest.mark.parametrize(
    ("text", "refusal"),
    [
        ("nope", "no group named nope"),
        ("pipelines,fleet", "no group named fleet"),
        (",", "no group given"),
    ],
)
def test_an_unknown_group_is_refused_with_the_groups(text: str, refusal: str) -> None:
    with pytest.raises(ShipyardError, match=refusal) as refused:
        toolsets.parse_groups(text)
    assert "pipelines, fleets" in (refused.value.hint or "")


@pytest.mark.parametrize(
    ("groups", "read_only", "expected"),
    [
        (
            ("fleets",),
            False,
            ["up", "down", "ps", "restart_service", "service_stop", "service_start"],
        ),
        (("fleets",), True, ["ps"]),
        (("maintenance",), True, ["store_check"]),
        (("api",), True, []),
    ],
)
def test_groups_and_read_only_combine(
    groups: tuple[str, ...], read_only: bool, expected: list[str]
) -> None:
    assert names(groups, read_only=read_only) == expected


@pytest.mark.parametrize(
    ("origin", "allowed", "expected"),
    [
        (None, (), True),  # no Origin: not a browser
        ("http://127.0.0.1:6274", (), True),
        ("http://localhost", (), True),
        ("https://localhost:8443", (), True),
        ("http://[::1]:3000", (), True),
        ("http://127.9.9.9:80", (), True),
        ("https://evil.example", (), False),
        ("http://localhost.evil.example", (), False),
        ("http://127.0.0.1.evil.example", (), False),
        ("null", (), False),
        ("file://localhost", (), False),
        ("http://[::1", (), False),  # malformed
        ("https://assistant.example", ("https://assistant.example",), True),
        ("https://Assistant.example", ("https://assistant.example/",), True),
        ("https://assistant.example:444", ("https://assistant.example",), False),
        ("http://assistant.example", ("https://assistant.example",), False),
    ],
)
def test_which_origins_may_reach_the_tools(
    origin: str | None, allowed: tuple[str, ...], expected: bool
) -> None:
    assert origin_allowed(origin, allowed) is expected


@pytest.mark.parametrize(
    "origin", ["evil.example", "https://", "https://a.example/path", "ftp://a.example"]
)
def test_an_allowed_origin_must_be_an_origin(origin: str) -> None:
    with pytest.raises(ShipyardError, match="is not an origin") as refused:
        check_origins([origin])
    assert refused.value.hint
    check_origins(["https://a.example", "http://127.0.0.1:8080/"])
