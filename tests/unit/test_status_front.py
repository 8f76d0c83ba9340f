"""``status`` and ``ps`` lines parsed without Typer: the forms it knows, and the rest left
to Typer."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.cli.front import parse_status, quick


@pytest.mark.parametrize(
    ("args", "env", "parsed"),
    [
        ([], None, (None, False, None, False)),
        (["exec_1"], None, ("exec_1", False, None, False)),
        (["--json"], None, (None, False, None, True)),
        (["-a", "exec_1", "--json"], None, ("exec_1", True, None, True)),
        (["--all"], None, (None, True, None, False)),
        (["--home", "h"], None, (None, False, Path("h"), False)),
        (["--home=h", "x"], None, ("x", False, Path("h"), False)),
        ([], "/env/home", (None, False, Path("/env/home"), False)),
        (["--home", "h"], "/env/home", (None, False, Path("h"), False)),  # the option wins
        ([], "", (None, False, None, False)),  # an empty variable counts as unset
        # Left to Typer: help, unknown options, a missing value, a second argument.
        (["--help"], None, None),
        (["-h"], None, None),
        (["--bogus"], None, None),
        (["-aj"], None, None),
        (["--home"], None, None),
        (["--home="], None, None),
        (["a", "b"], None, None),
        (["--", "x"], None, None),
    ],
)
def test_parse_status(
    args: list[str], env: str | None, parsed: tuple[str | None, bool, Path | None, bool] | None
) -> None:
    assert parse_status(args, env) == parsed


def test_ps_has_no_all_option() -> None:
    assert parse_status(["--json", "f"], None, with_all=False) == ("f", False, None, True)
    assert parse_status(["-a"], None, with_all=False) is None  # Typer's error, as before


@pytest.mark.parametrize(
    "argv", [[], ["list"], ["run", "x.yaml"], ["--help"], ["status", "-x"], ["ps", "--all"]]
)
def test_other_lines_go_to_typer(argv: list[str]) -> None:
    assert quick(argv) is None


@pytest.mark.parametrize("argv", [["status"], ["ps"], ["ps", "--json", "f"], ["status", "-a"]])
def test_plain_status_and_ps_lines_run_without_typer(argv: list[str]) -> None:
    assert quick(argv) is not None


def test_user_text_is_printed_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    """Rich replaced ':thumbs_up:' in a unit's name or reason with an emoji: user text is never
    parsed, as markup=False already said for [brackets]."""
    from rich.table import Table

    from shipyard.cli.front import console

    table = Table()
    table.add_column("unit")
    table.add_row("fetch :thumbs_up: [bold]x[/bold]")
    console().print(table)
    console().print("exited :fire:")
    out = capsys.readouterr().out
    assert "fetch :thumbs_up: [bold]x[/bold]" in out and "exited :fire:" in out
