"""`shipyard logs --all / --level / --since / --export` through the installed command."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.acceptance.conftest import Shipyard

#: Two steps taking turns (token files), each turn a stamped line then a plain one.
TURNS = """\
import datetime, os, sys, time
me, folder = sys.argv[1], sys.argv[2]
def wait_for(name):
    deadline = time.monotonic() + 20
    while not os.path.exists(os.path.join(folder, name)):
        if time.monotonic() > deadline:
            sys.exit(f"{name} never came")
        time.sleep(0.005)
for turn in range(2):
    if me == "b":
        wait_for(f"a{turn}")
    elif turn:
        wait_for(f"b{turn - 1}")
    now = datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")
    level = "WARNING" if me == "b" and turn == 1 else "INFO"
    print(f"{now} {level} {me}{turn}")
    print(f"plain {me}{turn}", flush=True)
    open(os.path.join(folder, f"{me}{turn}"), "w").close()
"""


@pytest.fixture
def execution(shipyard: Shipyard, tmp_path: Path) -> str:
    (tmp_path / "turns.py").write_text(TURNS)
    (tmp_path / "tokens").mkdir()
    (tmp_path / "spec.yaml").write_text(
        "name: turns\nsteps:\n"
        f"  a: {{run: [{sys.executable}, turns.py, a, tokens]}}\n"
        f"  b: {{run: [{sys.executable}, turns.py, b, tokens]}}\n"
    )
    done = shipyard("run", "-q", "spec.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.split()[0]


def _texts(output: str) -> list[str]:
    return [line.split("Z ", 1)[-1] for line in output.splitlines()]


def test_all_merges_by_time_with_each_units_name(shipyard: Shipyard, execution: str) -> None:
    done = shipyard("logs", execution, "--all")
    assert done.returncode == 0, done.stderr
    assert _texts(done.stdout) == [
        "INFO a0", "a | plain a0", "INFO b0", "b | plain b0",
        "INFO a1", "a | plain a1", "WARNING b1", "b | plain b1",
    ]  # fmt: skip
    assert [line.split(" | ")[0] for line in done.stdout.splitlines()] == list("aabbaabb")
    warned = shipyard("logs", execution, "--all", "--level", "warn")
    assert _texts(warned.stdout) == ["WARNING b1", "b | plain b1"]


def test_export_writes_json_lines_or_an_array_and_never_overwrites(
    shipyard: Shipyard, execution: str, tmp_path: Path
) -> None:
    done = shipyard("logs", execution, "--all", "--export", "out.jsonl")
    assert done.returncode == 0, done.stderr
    assert "wrote 8 log lines to out.jsonl" in done.stdout
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [line["unit"] for line in lines] == list("aabbaabb")
    assert set(lines[0]) == {"unit", "number", "text", "time", "time_source", "level"}
    assert [line["time_source"] for line in lines[:2]] == ["line", "inferred"]
    assert lines[1]["time"] == lines[0]["time"] and lines[0]["time"].endswith("Z")
    assert [line["level"] for line in lines[-2:]] == ["warning", "warning"]

    again = shipyard("logs", execution, "--export", "out.jsonl")
    assert again.returncode == 2
    assert "exists already" in again.stderr and "--force" in again.stderr
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 8  # untouched

    forced = shipyard("logs", execution, "b", "--level", "warning", "--export", "out.jsonl",
                      "--force", "--json")  # fmt: skip
    assert forced.returncode == 0, forced.stderr
    assert json.loads(forced.stdout) == {"export": "out.jsonl", "format": "jsonl", "lines": 2}
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 2

    array = shipyard("logs", execution, "--export", "out.json")
    assert array.returncode == 0, array.stderr
    assert [line["unit"] for line in json.loads((tmp_path / "out.json").read_text())] == list(
        "aaaabbbb"
    )
    empty = shipyard("logs", execution, "--since", "2999-01-01", "--export", "none.json")
    assert "wrote 0 log lines" in empty.stdout
    assert json.loads((tmp_path / "none.json").read_text()) == []


@pytest.mark.parametrize(
    ("args", "message", "hint"),
    [
        (["--since", "yesterday"], "is neither a duration nor an ISO 8601 time", "'10m'"),
        (["--since", "-5m"], "is neither a duration nor an ISO 8601 time", "'10m'"),
        (["--level", "loud"], "is not a log level", "debug, info, warning, error, critical"),
        (["--level", "$(reboot)"], "is not a log level", "debug, info"),
        (["nope", "--level", "info"], "has no unit 'nope'", "its units are: a, b"),
        (["a", "--all"], "--all merges every unit's log", "drop 'a'"),
        (["--export", "out.txt"], "cannot tell the format", "out.jsonl"),
        (["--export", "missing/out.json"], "does not exist", "create it first"),
        (["--export", "out.json", "--follow"], "--follow waits", "drop --follow"),
        (["--all", "--grep", "("], "not a valid regular expression", None),
    ],
)
def test_bad_input_is_one_message_with_a_hint(
    shipyard: Shipyard,
    execution: str,
    tmp_path: Path,
    args: list[str],
    message: str,
    hint: str | None,
) -> None:
    done = shipyard("logs", execution, *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    assert hint is None or hint in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out.json").exists() and not (tmp_path / "out.txt").exists()
