"""``shipyard mcp`` refuses an answer limit it cannot use, before serving: the message names the
variable and the hint the default (issue 18 §1; docs/mcp.md, Bounded answers)."""

from __future__ import annotations

import pytest

from tests.acceptance.conftest import Shipyard

pytestmark = pytest.mark.local_only("the MCP server reads its own environment, not a server's")


@pytest.mark.parametrize("value", ["lots", "100", "-1"])
def test_a_limit_that_is_no_usable_number_stops_the_server_with_a_hint(
    shipyard: Shipyard, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("SHIPYARD_MCP_MAX_CHARS", value)
    done = shipyard("mcp", input="")
    assert done.returncode != 0, done.stdout
    assert f"$SHIPYARD_MCP_MAX_CHARS={value!r} is not a number of characters" in done.stderr
    assert "hint: unset it for the default 60000" in done.stderr
    assert "Traceback" not in done.stderr
