"""shipyard.coordinator.throwaway's refusals: what the cluster demo says when PostgreSQL is not
installed or one of its tools fails (the cluster itself is exercised by every PostgreSQL test,
through tests/postgres.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.coordinator import throwaway


def test_a_missing_tool_is_named_with_how_to_install_it() -> None:
    with pytest.raises(throwaway.PostgresMissing) as missing:
        throwaway.binary("no-such-postgres-tool")
    assert "no-such-postgres-tool is not installed" in missing.value.message
    assert missing.value.hint is not None and "apt-get install postgresql" in missing.value.hint


def test_a_tool_that_fails_says_what_it_said_and_where(tmp_path: Path) -> None:
    with pytest.raises(throwaway.PostgresFailed) as failed:
        throwaway.run_as_owner(["sh", "-c", "echo the reason >&2; exit 3"], tmp_path)
    assert failed.value.message == "sh failed (exit 3): the reason"
    assert failed.value.hint == f"its files are in {tmp_path}"
