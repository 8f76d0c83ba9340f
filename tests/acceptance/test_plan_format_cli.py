"""A plan.json written by another Shipyard: the CLI says so, without a traceback."""

from __future__ import annotations

import json
from pathlib import Path

from shipyard.plan.codec import PLAN_FORMAT
from tests.acceptance.conftest import Shipyard
from tests.acceptance.test_cli import assert_clean_error

FIXTURES = Path(__file__).parents[1] / "fixtures" / "plan_format_1"


def test_resume_of_a_run_whose_plan_a_newer_shipyard_wrote(
    shipyard: Shipyard, tmp_path: Path
) -> None:
    (tmp_path / "spec.yaml").write_text((FIXTURES / "resume-spec.yaml").read_text())
    assert shipyard("run", "-q", "spec.yaml").returncode == 1  # `second` fails: no `go` yet
    (summary,) = json.loads(shipyard("list", "--json").stdout)
    plan_json = tmp_path / "home" / "runs" / summary["id"] / "plan.json"
    document = json.loads(plan_json.read_text())
    plan_json.write_text(json.dumps({**document, "plan_format": PLAN_FORMAT + 1}))

    result = shipyard("resume", summary["id"])
    assert_clean_error(result)
    assert result.returncode == 2
    assert f"{plan_json} was made by a newer Shipyard" in result.stderr
    assert "hint:" in result.stderr

    plan_json.write_text(json.dumps(document))  # as it was: resumes
    (tmp_path / "go").touch()
    assert shipyard("resume", summary["id"]).returncode == 0
