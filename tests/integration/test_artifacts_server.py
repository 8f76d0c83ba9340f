"""Artifacts and gates through a real ``shipyard serve`` (issue 15 §1-2): the remote client
(every operation over HTTP, an artifact streamed in chunks) and the REST aliases."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import pytest

import shipyard
from shipyard.errors import ShipyardError
from shipyard.models import ExecutionState, UnitState
from tests.serving import served

PY = sys.executable
BIG = 700 * 1024  # more than two chunks of 256 KiB


def test_artifacts_and_a_gate_approved_through_the_server(tmp_path: Path) -> None:
    write = (
        "import os; open('blob.bin', 'wb').write(bytes(range(256)) * "
        f"({BIG} // 256)); open(os.environ['SHIPYARD_METRICS'], 'a')"
        '.write(\'{"name": "accuracy", "value": 0.4}\\n\')'
    )
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: served\nsteps:\n"
        f"  train: {{run: {json.dumps([PY, '-c', write])}, outputs: [blob.bin],"
        ' gates: [{metric: accuracy, ">=": 0.9}]}\n'
        "  deploy: {run: [touch, deployed], needs: [train]}\n"
    )
    with served(tmp_path / "home", cwd=tmp_path) as server:
        remote = shipyard.connect(url=server.url, token=server.token)
        try:
            status = remote.run(spec)
            assert status.unit("train").state == UnitState.GATED
            listed = remote.artifacts(status.id)
            assert [(a.path, a.size) for a in listed] == [("blob.bin", BIG)]
            chunks = list(remote.artifact_read(status.id, "train", "blob.bin"))
            assert len(chunks) == 3 and chunks[-1].last
            assert b"".join(c.raw for c in chunks) == (tmp_path / "blob.bin").read_bytes()
            with pytest.raises(ShipyardError, match="leads out"):
                list(remote.artifact_read(status.id, "train", "../../state.db"))
            base = f"{server.url}/api/v1/executions/{status.id}"
            headers = {"Authorization": f"Bearer {server.token}"}
            rows = httpx.get(f"{base}/artifacts", params={"step": "train"}, headers=headers)
            assert rows.status_code == 200 and rows.json()[0]["sha256"] == listed[0].sha256
            refused = httpx.post(
                f"{base}/steps/deploy/approve", params={"reason": "x"}, headers=headers
            )
            assert refused.status_code == 400 and "not gated" in refused.text
            approved = httpx.post(
                f"{base}/steps/train/approve",
                params={"reason": "known baseline", "approved_by": "dana"},
                headers=headers,
            )
            assert approved.status_code == 200, approved.text
            assert approved.json()["approved_by"] == "dana"
            resumed = remote.resume(status.id)
            assert resumed.state == ExecutionState.SUCCEEDED
            assert [(a.unit, a.approved_by) for a in resumed.approvals] == [("train", "dana")]
            assert (tmp_path / "deployed").exists()
        finally:
            remote.close()
