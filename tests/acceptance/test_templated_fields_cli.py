"""Through the installed CLI: ``plan --json`` shows a health probe's ``exec`` with the
parameter's value in it, and ``validate`` names a placeholder that would stay as written (before,
both showed ``{{ x }}`` literally and ``validate`` said nothing)."""

from __future__ import annotations

import json

from tests.acceptance.conftest import Shipyard
from tests.conftest import SpecWriter

SPEC = """
name: probed
parameters:
  word: {default: hello}
services:
  web:
    run: [sleep, '60']
    health: {exec: [sh, -c, 'echo "$1"', probe, '{{ word }}']}
"""


def test_plan_json_shows_the_probe_with_the_value(
    shipyard: Shipyard, write_spec: SpecWriter
) -> None:
    spec = write_spec(SPEC)
    result = shipyard("plan", str(spec), "--json", "-p", "word=two words; $(touch PWNED)")
    assert result.returncode == 0, result.stdout + result.stderr
    (service,) = json.loads(result.stdout)["services"]
    assert service["health"]["exec"] == [
        "sh",
        "-c",
        'echo "$1"',
        "probe",
        "two words; $(touch PWNED)",
    ]


def test_validate_names_placeholders_that_would_stay_as_written(
    shipyard: Shipyard, write_spec: SpecWriter
) -> None:
    spec = write_spec(
        SPEC.replace("'{{ word }}'", "'{{ wrod }}'")
        + "  api:\n    run: [sleep, '60']\n    port: 8080\n    health: {http: '/{{ word }}'}\n"
    )
    result = shipyard("validate", str(spec))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{spec}:7:" in result.stdout and "'{{ wrod }}' is not a parameter" in result.stdout
    assert "did you mean 'word'?" in result.stdout
    assert f"{spec}:11:" in result.stdout and "http probe path" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
