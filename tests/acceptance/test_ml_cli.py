"""shipyard metrics NAME and shipyard models … through the installed command (issue 15 §3-4):
real runs of a tiny pipeline, one of them slow on purpose, and a registry in a real home."""

from __future__ import annotations

import contextlib
import json
import textwrap
from pathlib import Path

import pytest

from tests.acceptance.conftest import Shipyard

SPEC = """
name: tiny
parameters:
  secs: {type: float, default: 0.05}
  code: {type: int, default: 0}
steps:
  prep: {run: [python3, -c, "pass"]}
  train:
    run:
      - python3
      - -c
      - |
        import os, sys, time
        time.sleep({{ secs }})
        with open(os.environ["SHIPYARD_METRICS"], "a") as out:
            out.write('{"name": "accuracy", "value": 0.93}\\n')
        sys.exit({{ code }})
    needs: [prep]
"""


def write(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(textwrap.dedent(SPEC).lstrip("\n"), encoding="utf-8")
    return path


def run(shipyard: Shipyard, spec: Path, *params: str) -> str:
    args = [arg for param in params for arg in ("-p", param)]
    done = shipyard("run", "-q", str(spec), *args, "--json")
    return str(json.loads(done.stdout)["id"])


@pytest.mark.slow  # eight real runs, one of them 2 s on purpose
def test_metrics_show_rates_and_flag_the_slow_run(shipyard: Shipyard, tmp_path: Path) -> None:
    spec = write(tmp_path)
    fast = [run(shipyard, spec) for _ in range(6)]
    failed = run(shipyard, spec, "code=3")
    slow = run(shipyard, spec, "secs=2.0")
    done = shipyard("metrics", "tiny", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["runs"] == 8 and report["finished"] == 8
    assert (report["succeeded"], report["failed"]) == (7, 1)
    assert report["states"] == {"failed": 1, "succeeded": 7}
    assert report["success_rate"] == 0.875 and report["failure_rate"] == 0.125
    assert report["throughput_per_day"] > 0
    assert report["durations"]["count"] == 7  # the successful runs
    assert report["steps"]["train"]["count"] == 7 and report["steps"]["prep"]["count"] == 8
    flagged = {(a["execution_id"], a["step"]): a for a in report["anomalies"]}
    assert (slow, None) in flagged, report["anomalies"]
    assert (slow, "train") in flagged, report["anomalies"]
    figures = flagged[(slow, "train")]
    assert figures["value"] > figures["median"] and figures["z"] > 3.5
    assert figures["mad"] >= 0 and figures["samples"] == 7
    slowest = max(
        (a for a in report["anomalies"] if a["step"] == "train"), key=lambda a: a["value"]
    )
    assert slowest["execution_id"] == slow
    assert [p["execution_id"] for p in report["points"]] == [*fast, failed, slow]
    text = shipyard("metrics", "tiny").stdout
    assert "success rate 87.5%   failure rate 12.5%" in text
    assert f"{slow}  step train: " in text and "median" in text and "MAD" in text


def test_metrics_draw_a_chart_png_or_html(shipyard: Shipyard, tmp_path: Path) -> None:
    spec = write(tmp_path)
    for _ in range(2):
        run(shipyard, spec)
    png = shipyard("metrics", "tiny", "--chart", "durations.png")
    assert png.returncode == 0, png.stderr
    assert (tmp_path / "durations.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = shipyard("metrics", "tiny", "--chart", str(tmp_path / "out" / "d.html"), "--json")
    assert json.loads(page.stdout)["chart_path"] == str(tmp_path / "out" / "d.html")
    text = (tmp_path / "out" / "d.html").read_text()
    assert "<svg" in text and "tiny: durations over time" in text
    assert "<script" not in text and "http" not in text.split("<svg", 1)[0]


def test_too_few_runs_are_said(shipyard: Shipyard, tmp_path: Path) -> None:
    run(shipyard, write(tmp_path))
    report = json.loads(shipyard("metrics", "tiny", "--json").stdout)
    assert report["anomalies"] == []
    assert report["notes"] == [
        "too few runs to judge anomalies: 1 succeeded with a duration, 5 needed"
    ]
    assert "note: too few runs to judge anomalies" in shipyard("metrics", "tiny").stdout
    # a registered pipeline's name means the executions run under that name
    assert shipyard("pipelines", "add", "nightly", str(write(tmp_path))).returncode == 0
    named = shipyard("run", "-q", "nightly", "-p", "code=2", "--json")
    report = json.loads(shipyard("metrics", "nightly", "--json").stdout)
    assert report["basis"] == "executions run as the registered pipeline 'nightly'"
    assert [p["execution_id"] for p in report["points"]] == [json.loads(named.stdout)["id"]]
    assert (report["runs"], report["failure_rate"], report["durations"]["count"]) == (1, 1.0, 0)


METRICS_REFUSALS = [
    (("metrics", "nope"), "no executions of a pipeline or spec named 'nope'"),
    (("metrics", "tiny", "--since", "yesterday-ish"), "--since 'yesterday-ish' is neither"),
    (("metrics", "tiny", "--since", "2099-01-01"), "no executions of 'tiny' since"),
    (("metrics", "tiny", "--limit", "0"), "limit 0 is not a whole number from 1 to 100,000"),
    # (through a server, the wire refuses it first: "argument limit holds a number past …")
    (("metrics", "tiny", "--limit", "99999999999999999999"), "limit"),
    (("metrics", "tiny", "--chart", "d.txt"), "neither .png nor .html"),
]


def test_metrics_bad_input_is_one_message(shipyard: Shipyard, tmp_path: Path) -> None:
    run(shipyard, write(tmp_path))  # one home for every case: each reads only
    for args, message in METRICS_REFUSALS:
        done = shipyard(*args)
        assert done.returncode != 0, args
        assert message in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
    assert "known names: tiny" in shipyard("metrics", "nope").stderr
    assert not (tmp_path / "d.txt").exists()


# -- the model registry --------------------------------------------------------------------------


def stored(tmp_path: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]], list[str]]:
    """What the registry holds: its versions and events (read from the state database, as a
    check of what was written, not through the command under test) and its blobs."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(tmp_path / "home" / "state.db")) as db:
        versions = db.execute("SELECT * FROM model_versions ORDER BY model, version").fetchall()
        events = db.execute("SELECT * FROM model_events ORDER BY id").fetchall()
    return versions, events, blobs(tmp_path)


def blobs(tmp_path: Path) -> list[str]:
    folder = tmp_path / "home" / "models" / "sha256"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def ok(done: object) -> dict[str, object]:
    assert getattr(done, "returncode", 1) == 0, getattr(done, "stderr", "")
    data: dict[str, object] = json.loads(getattr(done, "stdout", ""))
    return data


def test_register_promote_rollback_and_path(shipyard: Shipyard, tmp_path: Path) -> None:
    execution = run(shipyard, write(tmp_path))
    model = tmp_path / "model.bin"
    model.write_bytes(b"weights " * 200_000)
    first = ok(
        shipyard("models", "register", "clf", "model.bin", "--from", f"{execution}/train",
                 "--metrics-from", f"{execution}/train", "--json")
    )  # fmt: skip
    second = ok(shipyard("models", "register", "clf", str(model), "--metrics", "accuracy=0.8",
                         "--json"))  # fmt: skip
    assert (first["version"], second["version"]) == (1, 2)
    assert first["digest"] == second["digest"] and len(str(first["digest"])) == 64
    assert first["size"] == model.stat().st_size and first["kind"] == "file"
    assert (first["execution_id"], first["step"]) == (execution, "train")
    assert first["metrics"] == {"accuracy": 0.93} and second["metrics"] == {"accuracy": 0.8}
    assert first["stage"] == second["stage"] == "staging"
    assert blobs(tmp_path) == [first["digest"]]  # the same content stored once
    assert Path(str(first["stored_path"])).read_bytes() == model.read_bytes()

    folder = tmp_path / "bundle"
    (folder / "sub").mkdir(parents=True)
    (folder / "weights.bin").write_bytes(b"weights " * 200_000)  # the same bytes as model.bin
    (folder / "sub" / "config.json").write_text('{"layers": 2}')
    third = ok(shipyard("models", "register", "clf", "bundle", "--json"))
    assert (third["version"], third["kind"], third["files"]) == (3, "folder", 2)
    tree = Path(str(third["stored_path"]))
    assert (tree / "sub" / "config.json").read_text() == '{"layers": 2}'
    assert (tree / "weights.bin").read_bytes() == model.read_bytes()
    assert len(blobs(tmp_path)) == 3  # config.json, the manifest; weights.bin stored once

    assert "is in production" in shipyard("models", "promote", "clf", "--to", "1").stdout
    change = ok(shipyard("models", "promote", "clf", "--to", "3", "--json"))
    assert (change["production"], change["previous"]) == (3, 1)
    assert shipyard("models", "path", "clf").stdout.strip() == str(tree)
    shown = ok(shipyard("models", "show", "clf", "--json"))
    assert shown["production"] == 3
    assert [v["stage"] for v in shown["versions"]] == ["archived", "staging", "production"]

    back = ok(shipyard("models", "rollback", "clf", "--json"))
    assert (back["production"], back["previous"]) == (1, 3)
    assert shipyard("models", "path", "clf").stdout.strip() == str(first["stored_path"])
    shown = ok(shipyard("models", "show", "clf", "--json"))
    assert [v["stage"] for v in shown["versions"]] == ["production", "staging", "archived"]
    moves = [(e["action"], e["version"], e["from_stage"], e["to_stage"]) for e in shown["events"]]
    assert moves == [
        ("register", 1, None, "staging"),
        ("register", 2, None, "staging"),
        ("register", 3, None, "staging"),
        ("promote", 1, "staging", "production"),
        ("promote", 1, "production", "archived"),
        ("promote", 3, "staging", "production"),
        ("rollback", 3, "production", "archived"),
        ("rollback", 1, "archived", "production"),
    ]
    assert all(e["actor"] and e["at"] for e in shown["events"])
    assert shipyard("models", "path", "clf", "--stage", "staging").stdout.strip() == str(
        second["stored_path"]
    )
    one = ok(shipyard("models", "show", "clf", "--version", "2", "--json"))
    assert [v["version"] for v in one["versions"]] == [2]
    listed = ok(shipyard("models", "list", "--json"))
    assert [(m["name"], m["production"], m["latest"]) for m in listed] == [("clf", 1, 3)]  # type: ignore[index]
    text = shipyard("models", "show", "clf").stdout
    assert "production: version 1" in text and "rollback v1: archived → production" in text


REGISTRY_REFUSALS = [
    (("models", "register", "clf", "missing.bin"), "missing.bin does not exist"),
    (("models", "register", "clf", "m.bin", "--from", "exec_nope/train"), "no execution exec_nope"),
    (("models", "register", "clf", "m.bin", "--from", "{exec}/nostep"), "has no step 'nostep'"),
    (("models", "register", "clf", "m.bin", "--from", "nonsense"), "is not EXEC/STEP"),
    (("models", "register", "clf", "m.bin", "--metrics", "acc=high"), "not a finite number"),
    (("models", "register", "clf", "m.bin", "--metrics-from", "{exec}/prep"),
     "step 'prep' reported no metrics"),
    (("models", "register", "clf", "m.bin", "--metrics", "a=1", "--metrics-from", "{exec}/train"),
     "--metrics and --metrics-from were both given"),
    (("models", "register", "a b", "m.bin"), "'a b' is not a model name"),
    (("models", "show", "nope"), "no model named 'nope'"),
    (("models", "promote", "clf", "--to", "9"), "model 'clf' has no version 9"),
    (("models", "promote", "clf", "--to", "0"), "version 0 is not a positive whole number"),
    (("models", "rollback", "clf"), "no version in production to roll back"),
    (("models", "rollback", "nope"), "no model named 'nope'"),
    (("models", "path", "clf"), "model 'clf' has no version in production"),
    (("models", "path", "clf", "--stage", "live"), "'live' is not a stage"),
    (("models", "show", "clf", "--version", "5"), "has no version 5"),
]  # fmt: skip


def test_registry_bad_input_writes_nothing(shipyard: Shipyard, tmp_path: Path) -> None:
    execution = run(shipyard, write(tmp_path))
    (tmp_path / "m.bin").write_bytes(b"model")
    ok(shipyard("models", "register", "clf", "m.bin", "--json"))
    before = stored(tmp_path)
    assert len(before[0]) == 1 and len(before[2]) == 1
    for args, message in REGISTRY_REFUSALS:
        done = shipyard(*(arg.replace("{exec}", execution) for arg in args))
        assert done.returncode != 0, args
        assert message in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
        assert stored(tmp_path) == before, f"{args} wrote something"
