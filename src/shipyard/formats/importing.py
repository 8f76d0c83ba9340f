"""Importing a foreign file: detect (or take ``--format``), run its importer, check that the
written spec loads, and report a problem of it at the foreign file's own line.

Only process-compose files, A2A jobs and Jarvis-CD pipelines have an importer yet; every other
recognised format gets one clear message saying what the file is and what to do — never "unknown
key" lines or a traceback.
"""

from __future__ import annotations

from pathlib import Path

from shipyard.errors import Location, SpecError, SpecProblem
from shipyard.formats.detect import FORMATS, TITLES, Detection, detect_text
from shipyard.formats.notes import ImportResult
from shipyard.formats.processcompose import import_process_compose
from shipyard.spec.reading import read_spec_text
from shipyard.spec.yamlsource import SourceMap, YamlProblems, read_yaml

#: Formats with an importer.
IMPORTERS = ("process-compose", "a2a", "jarvis")

#: What to do with a recognised file Shipyard cannot import yet.
NOT_YET = {
    "atoll": "ATOLL agent folders are for `shipyard agents discover|deploy DIR`, not a spec",
    "toml": "a Shipyard spec is YAML (docs/spec.md)",
}


def check_format(name: str) -> str:
    if name not in FORMATS:
        raise SpecError(
            [
                SpecProblem(
                    f"--format {name} is not a format", hint="use one of: " + ", ".join(FORMATS)
                )
            ]
        )
    return name


def _read(text: str, path: Path) -> tuple[object, SourceMap]:
    try:
        return read_yaml(text, path)
    except YamlProblems as error:
        if error.read is None:
            raise SpecError(error.problems) from None
        return error.read


def _article(title: str) -> str:
    return "an" if title[:1].upper() in "AEIOU" else "a"


def _not_importable(detection: Detection, source: SourceMap | None, path: Path) -> SpecError:
    where = source.locate(detection.key, key=True) if source and detection.key else None
    title = detection.title
    hint = NOT_YET.get(detection.format)
    if detection.format == "toml":
        message = "this is a TOML file, not YAML: it is not a Shipyard spec"
    elif detection.format == "mitosis":  # not a pipeline: its suites go to the coordinator
        from shipyard.formats.mitosisprobe import where_it_goes

        message = f"this is a Mitosis file ({detection.reason}), not a Shipyard spec"
        hint = where_it_goes(detection.reason, toml=detection.key == ())
    else:
        message = (
            f"this is {_article(title)} {title} file ({detection.reason}), not a Shipyard spec; "
            f"Shipyard cannot import {title} files yet"
        )
    return SpecError([SpecProblem(message, where or Location(path, 1, 1), hint=hint)])


def import_text(
    text: str,
    path: Path,
    *,
    format: str | None = None,
    output: Path | None = None,
    detection: Detection | None = None,
) -> ImportResult:
    """``text`` of the foreign file ``path`` as a Shipyard spec, checked to load (named
    ``output`` if it is to be written elsewhere). SpecError: a problem of the foreign file, at
    its own line; or a format that cannot be imported, said so."""
    if detection is None:
        detection = detect_text(text, path) if format is None else Detection(format, "--format")
    if detection.format == "shipyard":
        raise SpecError(
            [
                SpecProblem(
                    "this is a Shipyard spec already (no other tool's keys): nothing to import",
                    Location(path, 1, 1),
                    hint="validate it with `shipyard validate`; or name the format with --format",
                )
            ]
        )
    if detection.format not in IMPORTERS:
        source = None if detection.format == "toml" else _read_quietly(text, path)
        raise _not_importable(detection, source, path)
    data, source = _read(text, path)
    if not isinstance(data, dict):
        raise SpecError(
            [SpecProblem(f"a {TITLES[detection.format]} file is a YAML mapping", source.locate(()))]
        )
    rebase = None
    if output is not None:
        from shipyard.formats.pcprocess import relative_rebase

        rebase = relative_rebase(str(path.parent), str(output.resolve().parent))
    if detection.format == "jarvis":
        from shipyard.formats.jarvis import import_jarvis

        result = import_jarvis(data, source, path, rebase=rebase)
        check_loads(result, output or path)
        return result
    if detection.format == "a2a":
        from shipyard.formats.a2a import import_a2a

        result = import_a2a(data, source, path, rebase=rebase)
        check_loads(result, output or path)
        return result
    result = import_process_compose(data, source, path, project_rebase=rebase)
    check_loads(result, output or path)
    return result


def _read_quietly(text: str, path: Path) -> SourceMap | None:
    try:
        return _read(text, path)[1]
    except SpecError:
        return None


def check_loads(result: ImportResult, path: Path) -> None:
    """The written spec loads; else its problems, each at the foreign line it came from."""
    from shipyard.spec.loader import load_spec_text

    try:
        load_spec_text(result.text, path)
    except SpecError as error:
        raise SpecError([_remapped(problem, result) for problem in error.problems]) from None


def _remapped(problem: SpecProblem, result: ImportResult) -> SpecProblem:
    line = problem.location.line if problem.location else None
    origin = result.origins.get(line) if line is not None else None
    return SpecProblem(
        f"{problem.message} (in the {result.format} file's Shipyard equivalent)",
        origin,
        hint=problem.hint,
    )


def import_file(
    path: Path, *, format: str | None = None, output: Path | None = None
) -> ImportResult:
    return import_text(read_spec_text(path), path.resolve(), format=format, output=output)


__all__ = ["IMPORTERS", "check_format", "import_file", "import_text"]
