"""Pipeline metrics and the model registry through a real ``shipyard serve`` (issue 15 §3-4):
RemoteOperations calls each operation over HTTP, the readable REST routes answer the same
records, and a refusal crosses as its own class with its status (an unknown model is a 404)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import httpx
import pytest

import shipyard
from shipyard.errors import ExecutionNotFound
from shipyard.mlregistry import ModelError, ModelNotFound, Stage
from tests.serving import served

SPEC = """
    name: servedml
    steps:
      train:
        run: [sh, -c, "echo '{\\"name\\": \\"auc\\", \\"value\\": 0.8}' >> $SHIPYARD_METRICS"]
"""


def test_metrics_and_registry_through_a_server(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(textwrap.dedent(SPEC).lstrip("\n"))
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "w.bin").write_bytes(b"w" * 4096)
    with served(tmp_path / "home") as server:
        ops = shipyard.connect(url=server.url, token=server.token)
        try:
            execution = ops.run(spec).id
            ops.run(spec)
            report = ops.pipeline_metrics("servedml", since="1h")
            assert (report.runs, report.succeeded, report.success_rate) == (2, 2, 1.0)
            assert report.steps["train"].count == 2 and report.notes
            version = ops.model_register(
                "clf", str(tmp_path / "model"), source=f"{execution}/train",
                metrics_from=f"{execution}/train",
            )  # fmt: skip
            assert (version.version, version.kind, version.files, version.size) == (
                1,
                "folder",
                1,
                4096,
            )
            assert version.metrics == {"auc": 0.8} and version.stage is Stage.STAGING
            change = ops.model_promote("clf", 1)
            assert (change.production, change.previous) == (1, None)
            assert Path(ops.model_path("clf")).joinpath("w.bin").read_bytes() == b"w" * 4096
            with pytest.raises(ModelNotFound, match="no version 4"):
                ops.model_promote("clf", 4)
            with pytest.raises(ModelError, match="already in production"):
                ops.model_promote("clf", 1)
            with pytest.raises(ExecutionNotFound, match="no executions of a pipeline or spec"):
                ops.pipeline_metrics("nope")

            base, headers = f"{server.url}/api/v1", {"Authorization": f"Bearer {server.token}"}
            listed = httpx.get(f"{base}/models", headers=headers).json()
            assert [(m["name"], m["production"]) for m in listed] == [("clf", 1)]
            one = httpx.get(f"{base}/models/clf", params={"version": 1}, headers=headers).json()
            assert one["versions"][0]["execution_id"] == execution
            path = httpx.get(f"{base}/models/clf/path", headers=headers).json()
            assert path == ops.model_path("clf")
            missing = httpx.get(f"{base}/models/nope", headers=headers)
            assert missing.status_code == 404, missing.text
            assert missing.json()["error"] == "shipyard.mlregistry:ModelNotFound"
            metrics = httpx.get(f"{base}/pipelines/servedml/metrics", headers=headers).json()
            assert metrics["runs"] == 2 and metrics["success_rate"] == 1.0
            unknown = httpx.get(f"{base}/pipelines/nope/metrics", headers=headers)
            assert unknown.status_code == 404, unknown.text
        finally:
            ops.close()
