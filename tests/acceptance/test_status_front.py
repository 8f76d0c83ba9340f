"""``shipyard status`` and ``ps`` answered without Typer (cli/front.py) say exactly what Typer's
commands say, and import neither Typer nor Click."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.acceptance.conftest import Shipyard

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart.yaml"

# Run one line both ways in a fresh interpreter: through main() (the quick path) and through
# the Typer app alone; the two outputs and exit codes are printed apart.
PROBE = """
import contextlib, io, json, sys
from shipyard.cli import commands, main
line = json.loads(sys.argv[1])
for run in (main.main, commands.main):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(list(line))
    print(json.dumps([code, out.getvalue(), err.getvalue()]))
"""


@pytest.mark.parametrize(
    "line",
    [
        ["status"],
        ["status", "--json"],
        ["status", "-a", "--json"],
        ["status", "no_such_execution"],
        ["status", "--json", "no_such_execution"],
        ["ps", "--json"],  # no fleet: the same error both ways
        ["ps", "no_such_execution"],
    ],
)
def test_the_quick_status_answers_as_typer_does(
    shipyard: Shipyard, tmp_path: Path, line: list[str]
) -> None:
    assert shipyard("run", "-q", str(QUICKSTART), "--mode", "test").returncode == 0
    env = {**os.environ, "SHIPYARD_HOME": str(tmp_path / "home"), "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(line)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    quick, typer = (json.loads(row) for row in done.stdout.splitlines())
    assert quick == typer
    if line[0] == "ps":
        assert quick[0] != 0 and quick[2].startswith("error: "), quick
    elif line[-1] == "no_such_execution":
        assert quick[0] != 0 and "no execution 'no_such_execution'" in quick[2], quick
    else:
        assert quick[0] == 0 and "quickstart" in quick[1], quick


@pytest.mark.local_only(
    "checks what the in-process fast path imports; the remote client's httpx imports "
    "click and rich (its own CLI)"
)
def test_status_and_ps_import_neither_typer_nor_click(shipyard: Shipyard, tmp_path: Path) -> None:
    assert shipyard("run", "-q", str(QUICKSTART), "--mode", "test").returncode == 0
    execution_id = json.loads(shipyard("status", "--json").stdout)["id"]
    probe = (
        f"import sys\nID = {execution_id!r}\nfrom shipyard.cli.main import main\n"
        "for argv in (['status'], ['status', '--json'], ['ps', '--json', ID]):\n"
        "    main(argv)\n"
        "sys.stderr.write('loaded: %s' % sorted({m.split('.')[0] for m in sys.modules}"
        " & {'typer', 'click'}))\n"
    )
    env = {**os.environ, "SHIPYARD_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=False
    )
    assert "loaded: []" in done.stderr, done.stderr
