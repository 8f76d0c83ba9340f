"""The lifecycle commands through the installed CLI, each call its own process."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.acceptance.conftest import Shipyard
from tests.conftest import SpecWriter


def wait_for_state(shipyard: Shipyard, execution_id: str, wanted: set[str]) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + 30
    while True:
        status = json.loads(shipyard("status", execution_id, "--json").stdout)
        if status["state"] in wanted or time.monotonic() > deadline:
            return status  # type: ignore[no-any-return]
        time.sleep(0.1)


def test_detach_follow_stop_resume_clean(
    shipyard: Shipyard, write_spec: SpecWriter, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    spec = write_spec(
        f"""
        name: cli-life
        steps:
          talk: {{run: 'for i in 1 2 3; do echo said $i; sleep 0.2; done', shell: true}}
          wait: {{run: 'echo waiting; while [ ! -e {gate} ]; do sleep 0.1; done', shell: true,
                 needs: [talk]}}
          last: {{run: [echo, last], needs: [wait]}}
        """
    )
    started = shipyard("run", str(spec), "-d", "--json")
    assert started.returncode == 0, started.stderr
    execution_id = json.loads(started.stdout)["id"]

    followed = shipyard("logs", execution_id, "talk", "-f", timeout=30)
    assert followed.stdout.split("\n")[:3] == ["said 1", "said 2", "said 3"]

    refused = shipyard("stop", execution_id)  # no terminal, no --yes
    assert refused.returncode == 2 and "--yes" in refused.stderr
    stopped = shipyard("stop", execution_id, "--yes", "--grace", "0.2s")
    assert stopped.returncode == 0, stopped.stderr
    assert "never started: last" in stopped.stdout
    status = wait_for_state(shipyard, execution_id, {"cancelled"})
    assert {u["name"]: u["state"] for u in status["units"]} == {
        "talk": "succeeded",
        "wait": "cancelled",
        "last": "skipped",
    }

    gate.touch()
    resumed = shipyard("resume", execution_id, "--json")
    assert resumed.returncode == 0, resumed.stderr
    final = json.loads(resumed.stdout)
    assert final["state"] == "succeeded"
    assert {u["name"]: u["attempts"] for u in final["units"]} == {"talk": 1, "wait": 2, "last": 1}

    cleaned = json.loads(shipyard("clean", execution_id, "--level", "deep", "--json").stdout)
    assert cleaned["total_bytes"] > 0 and "logs" in cleaned["runs"][0]["paths"]
    undone = shipyard("clean", "--undo", execution_id)
    assert undone.returncode == 0 and "put back" in undone.stdout
    assert "said 1" in shipyard("logs", execution_id, "talk").stdout
