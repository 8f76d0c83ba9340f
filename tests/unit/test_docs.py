"""Docs that must not drift from the code."""

from __future__ import annotations

from pathlib import Path

import shipyard

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_spec_key_is_documented() -> None:
    schema = shipyard.connect().schema()
    keys = set(schema["properties"])
    for definition in schema["$defs"].values():
        keys |= set(definition.get("properties", {}))
    text = (DOCS / "spec.md").read_text()
    missing = sorted(key for key in keys if f"`{key}`" not in text)
    assert missing == [], f"docs/spec.md does not describe: {missing}"


def test_public_names_are_exported_and_importable() -> None:
    assert set(dir(shipyard)) == set(shipyard.__all__)
    for name in shipyard.__all__:
        assert getattr(shipyard, name) is not None


def test_spec_examples_in_the_docs_are_valid() -> None:
    import re

    from shipyard.spec.loader import load_spec_text

    root = DOCS.parent
    blocks = 0
    for page in [root / "README.md", *DOCS.glob("*.md")]:
        for block in re.findall(r"```yaml\n(.*?)```", page.read_text(), flags=re.DOTALL):
            if block.lstrip().startswith("name:"):
                load_spec_text(block)  # raises SpecError with file:line if a doc drifts
                blocks += 1
    assert blocks >= 2


def test_every_command_and_option_is_in_the_cli_reference() -> None:
    import typer.main

    from shipyard.cli.main import app

    text = (DOCS / "cli.md").read_text()
    missing = []

    def visit(command, path: str) -> None:  # type: ignore[no-untyped-def]
        for name, sub in getattr(command, "commands", {}).items():
            visit(sub, f"{path} {name}")
        if path and not getattr(command, "commands", None) and f"shipyard{path}" not in text:
            missing.append(path.strip())
        for param in command.params:
            for option in param.opts:
                if option.startswith("--") and option != "--help" and option not in text:
                    missing.append(f"{path.strip()} {option}")

    visit(typer.main.get_command(app), "")
    assert missing == [], f"docs/cli.md does not mention: {missing}"
