"""Where the MCP front end writes an assistant's files (mcpserver.outputs.OutputRule): a table
of paths over a real home and working folder, with links and existing files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shipyard.errors import ShipyardError
from shipyard.mcpserver.outputs import OutputRule


@pytest.fixture
def rule(tmp_path: Path) -> OutputRule:
    home, cwd = tmp_path / ".shipyard", tmp_path / "work"
    home.mkdir()
    cwd.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (cwd / "mine.html").write_text("the user's own page")
    (cwd / ".config").mkdir()
    (cwd / "out").symlink_to(tmp_path / "elsewhere")
    (home / "reports").mkdir()
    (home / "reports" / "old.png").write_bytes(b"a previous report")
    (home / "reports" / "link.png").symlink_to(cwd / "mine.html")
    return OutputRule(home.resolve(), cwd.resolve())


def _where(rule: OutputRule, given: str, kind: str) -> str:
    """The written path, shown relative to the test's folders (``{home}``, ``{cwd}``)."""
    placed = str(rule.place(given.format(home=rule.home, cwd=rule.cwd), kind))
    return placed.replace(str(rule.home), "{home}").replace(str(rule.cwd), "{cwd}")


@pytest.mark.parametrize(
    ("given", "kind", "lands"),
    [
        ("plot.png", "plot", "{home}/reports/plot.png"),
        ("runs/a/plot.png", "plot", "{home}/reports/runs/a/plot.png"),  # folders made
        ("report.HTML", "html", "{home}/reports/report.HTML"),
        ("old.png", "plot", "{home}/reports/old.png"),  # a previous report is replaced
        ("{cwd}/new.html", "html", "{cwd}/new.html"),
        ("{home}/notes.jsonl", "logs", "{home}/notes.jsonl"),
        ("{home}/reports/x/y.json", "logs", "{home}/reports/x/y.json"),
    ],
)
def test_accepted_paths_and_where_they_land(
    rule: OutputRule, given: str, kind: str, lands: str
) -> None:
    assert _where(rule, given, kind) == lands
    if "/x/" in lands or "/a/" in lands:
        assert Path(lands.format(home=rule.home)).parent.is_dir()


@pytest.mark.parametrize(
    ("given", "kind", "message"),
    [
        ("", "plot", "empty or not a path"),
        ("   ", "html", "empty or not a path"),
        ("a\0b.png", "plot", "empty or not a path"),
        ("plot.svg", "plot", "must end in .png"),
        ("run.sh", "html", "must end in .html or .htm"),
        ("{cwd}/Makefile", "logs", "must end in .jsonl or .json"),
        ("../escape.png", "plot", "writes plot outputs only under"),
        ("../../work/x.png", "plot", "writes plot outputs only under"),
        ("/tmp/anywhere.png", "plot", "writes plot outputs only under"),
        ("{cwd}/../elsewhere/x.html", "html", "writes html outputs only under"),
        ("{cwd}/out/x.html", "html", "writes html outputs only under"),  # a linked folder
        ("{cwd}/.config/x.json", "logs", "writes logs outputs only under"),  # hidden below
        (".hidden.png", "plot", "writes plot outputs only under"),
        ("{cwd}/mine.html", "html", "is not a previous report"),
        ("link.png", "plot", "is not a plain file"),
        ("{cwd}/nowhere/x.png", "plot", "does not exist"),
    ],
)
def test_refused_paths_say_why_and_what_to_give(
    rule: OutputRule, given: str, kind: str, message: str
) -> None:
    before = {p: p.stat().st_mtime_ns for p in rule.cwd.parent.rglob("*") if p.is_file()}
    with pytest.raises(ShipyardError, match=message) as caught:
        rule.place(given.format(home=rule.home, cwd=rule.cwd), kind)
    assert caught.value.hint
    after = {p: p.stat().st_mtime_ns for p in rule.cwd.parent.rglob("*") if p.is_file()}
    assert after == before


def test_a_previous_log_export_is_replaced_only_with_overwrite(rule: OutputRule) -> None:
    (rule.home / "reports" / "logs.jsonl").write_text("{}\n")
    with pytest.raises(ShipyardError, match="exists already") as caught:
        rule.place("logs.jsonl", "logs", overwrite=False)
    assert caught.value.hint is not None and "overwrite=true" in caught.value.hint
    assert rule.place("logs.jsonl", "logs", overwrite=True) == rule.home / "reports/logs.jsonl"


def test_a_server_started_in_the_root_folder_does_not_take_it_as_its_working_folder(
    rule: OutputRule,
) -> None:
    rooted = OutputRule(rule.home, Path(os.sep))
    with pytest.raises(ShipyardError, match="only under"):
        rooted.place(str(rule.cwd / "new.png"), "plot")
    assert rooted.place("new.png", "plot") == rule.home / "reports" / "new.png"
