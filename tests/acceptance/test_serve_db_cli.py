"""``shipyard serve --db`` refuses what cannot work with a message and a hint, before it
listens: a database that does not answer, a ``[coordinator]`` setting of the wrong kind."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.acceptance.conftest import Shipyard

UNREACHABLE = "postgresql://nobody@127.0.0.1:1/none"


def test_a_database_that_does_not_answer_is_a_message(shipyard: Shipyard) -> None:
    done = shipyard("serve", "--port", "0", "--db", UNREACHABLE)
    assert done.returncode != 0
    assert "does not answer" in done.stderr or "cannot read" in done.stderr
    assert "hint:" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ('max_artifact_bytes = "lots"', "max_artifact_bytes"),
        ("max_fetch_wait = -1", "max_fetch_wait"),
        ("fetch_poll = true", "fetch_poll"),
        ("lease = 0", "lease"),
    ],
)
def test_a_wrong_coordinator_setting_is_named(
    shipyard: Shipyard, tmp_path: Path, line: str, named: str
) -> None:
    config = tmp_path / "settings.toml"
    config.write_text(f"[coordinator]\n{line}\n")
    done = shipyard("serve", "--port", "0", "--config", str(config), "--db", UNREACHABLE)
    assert done.returncode != 0
    assert named in done.stderr and "Traceback" not in done.stderr
    assert "signing key" not in done.stderr  # said before the database is asked
