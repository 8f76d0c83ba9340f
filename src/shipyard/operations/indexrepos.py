"""The template index (issue 12 §3): what :class:`shipyard.operations.templates.IndexOperations`
does, imported when an index operation is first asked for.

A repository is read where it is (a folder, or the builtin one inside the package) or where it
was cloned (``<home>/index/<name>``, a git repository). Its templates are listed by its
``shipyard-index.yaml`` (:mod:`shipyard.templatelayout`); adding or updating one validates every
template it lists, and nothing is recorded (nor left in the cache) when one is invalid.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.errors import Location, ShipyardError, SpecError, SpecProblem
from shipyard.operations.core import Core
from shipyard.templatelayout import (
    BUILTIN,
    INDEX_EXAMPLE,
    INDEX_FILE,
    IndexEntry,
    check_name,
    newer_needed,
    parse_index,
    split_ref,
)
from shipyard.templates import IndexRepo, TemplateInfo
from shipyard.workspace import private_dir

if TYPE_CHECKING:
    from shipyard.registry import ParameterInfo
    from shipyard.spec.models import Spec

#: The repository that ships inside the package (listed always, never removed).
BUILTIN_ROOT = Path(__file__).resolve().parents[1] / "builtin_templates"


def add(ops: Core, name: str, source: str) -> IndexRepo:
    """Add a repository of templates: a local folder or a git URL (cloned)."""
    check_name(name, "repository")
    if name == BUILTIN:
        raise ShipyardError(
            f"'{BUILTIN}' is the repository that ships with Shipyard",
            hint="choose another name",
        )
    _refuse_taken(ops, name)
    from shipyard.operations import gitrepo

    folder = Path(source).expanduser()
    if folder.is_dir() and (folder / INDEX_FILE).is_file():
        root = folder.resolve()
        _validated(name, root)
        repo = IndexRepo(name, str(root), "folder", str(root))
    elif (folder.is_dir() and gitrepo.is_repository(folder)) or gitrepo.looks_like_url(source):
        url = str(folder.resolve()) if folder.is_dir() else source
        repo = _clone_validated(ops, name, url)
    else:
        raise _not_a_repository(source, folder)
    if not ops.store.index_repo_add(repo, at=ops.clock.now()):
        _drop_clone(ops, repo)
        _refuse_taken(ops, name)
    return _counted(_recorded(ops, name))


def list_repos(ops: Core) -> list[IndexRepo]:
    """The builtin repository, then every added one by name."""
    return [_counted(repo) for repo in _repos(ops)]


def remove(ops: Core, name: str) -> IndexRepo:
    """Forget a repository; a git one's clone in the index cache is deleted (a folder is
    the user's: it stays)."""
    repo = _repo(ops, name)
    if repo.kind == BUILTIN:
        raise ShipyardError(
            f"'{BUILTIN}' ships with Shipyard and cannot be removed",
            hint="remove only repositories you added (shipyard index list)",
        )
    _drop_clone(ops, repo)
    ops.store.index_repo_delete(name)
    return _counted(repo)


def update(ops: Core, name: str | None = None) -> list[IndexRepo]:
    """Pull git repositories again (fetch and fast-forward; one, or all) and validate their
    templates; an update whose templates do not validate is undone. A folder is re-read."""
    targets = [_repo(ops, name)] if name is not None else ops.store.index_repo_list()
    updated = []
    for repo in targets:
        revision = _refresh(repo)
        if repo.kind != BUILTIN:
            ops.store.index_repo_updated(repo.name, revision=revision, at=ops.clock.now())
            repo = _recorded(ops, repo.name)
        updated.append(_counted(repo))
    return updated


def templates(ops: Core, repo: str | None = None) -> list[TemplateInfo]:
    """The templates of one repository, or of all; each says whether it can run here."""
    repos = [_repo(ops, repo)] if repo is not None else _repos(ops)
    return [info for each in repos for info in _read(each)]


def show(ops: Core, ref: str) -> TemplateInfo:
    """One template, ``REPO/NAME``: refused when it cannot run on this Shipyard."""
    info = _template(ops, ref)
    if not info.usable:
        raise ShipyardError(
            f"template {info.repo}/{info.name} cannot run: {info.problem}",
            hint=_unusable_hint(info),
        )
    return info


# -- repositories ---------------------------------------------------------------------------


def builtin_repo() -> IndexRepo:
    return IndexRepo(BUILTIN, BUILTIN, BUILTIN, str(BUILTIN_ROOT))


def _repos(ops: Core) -> list[IndexRepo]:
    # A folder without state has only the builtin one: reading creates no .shipyard/ there.
    added = ops.store.index_repo_list() if ops._has_state() else []
    return [builtin_repo(), *added]


def _repo(ops: Core, name: str) -> IndexRepo:
    if name == BUILTIN:
        return builtin_repo()
    found = ops.store.index_repo_get(name)
    if found is None:
        known = ", ".join(repo.name for repo in _repos(ops))
        raise ShipyardError(
            f"no template repository named {name!r}",
            hint=f"known: {known}; add one with: shipyard index add NAME FOLDER|GIT-URL",
        )
    return found


def _recorded(ops: Core, name: str) -> IndexRepo:
    found = ops.store.index_repo_get(name)
    assert found is not None, name  # just written in this process
    return found


def _refuse_taken(ops: Core, name: str) -> None:
    taken = ops.store.index_repo_get(name)
    if taken is not None:
        raise ShipyardError(
            f"a template repository named {name!r} exists already (from {taken.source})",
            hint=f"choose another name, or: shipyard index remove {name}",
        )


def _counted(repo: IndexRepo) -> IndexRepo:
    """The repository with its number of templates (its index file's entries)."""
    entries = _entries(Path(repo.path), strict=False)
    return dataclasses.replace(repo, templates=len(entries))


def _not_a_repository(source: str, folder: Path) -> ShipyardError:
    if folder.is_dir():
        return ShipyardError(
            f"{source} is neither a folder of templates (it has no {INDEX_FILE}) "
            "nor a git repository",
            hint=INDEX_EXAMPLE,
        )
    return ShipyardError(
        f"{source} is not a folder, nor a git URL",
        hint="give a folder holding shipyard-index.yaml, or a URL git can clone "
        "(https://…, ssh://…, file://…, user@host:path)",
    )


def _index_cache(ops: Core) -> Path:
    cache = ops.workspace.home / "index"
    private_dir(cache)
    return cache


def _clone_validated(ops: Core, name: str, url: str) -> IndexRepo:
    """Clone ``url`` beside the cache's repositories, validate it, then move it into place:
    an invalid repository or a failed clone leaves nothing behind."""
    import secrets
    import shutil

    from shipyard.operations import gitrepo

    cache = _index_cache(ops)
    staging = cache / f".{name}.{secrets.token_hex(4)}"
    try:
        revision = gitrepo.clone(url, staging)
        if not (staging / INDEX_FILE).is_file():
            raise ShipyardError(
                f"the git repository {url} has no {INDEX_FILE} at its top",
                hint=INDEX_EXAMPLE,
            )
        _validated(name, staging)
        target = cache / name
        _refuse_taken(ops, name)  # again: another add of the name may have ended meanwhile
        if target.exists():  # a clone left by a crash before it was recorded
            shutil.rmtree(target)
        try:
            staging.rename(target)
        except OSError as error:
            raise ShipyardError(
                f"the clone could not be moved to {target}: {error.strerror or error}",
                hint=f"is another 'shipyard index add {name}' running? then try again",
            ) from None
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return IndexRepo(name, url, "git", str(target), revision=revision)


def _drop_clone(ops: Core, repo: IndexRepo) -> None:
    """Delete a git repository's clone — only ever a folder inside the index cache."""
    import shutil

    if repo.kind != "git":
        return
    cache = (ops.workspace.home / "index").resolve()
    clone = Path(repo.path).resolve()
    if clone.parent == cache and clone.is_dir():
        shutil.rmtree(clone)


def _refresh(repo: IndexRepo) -> str | None:
    """Read a repository again (a git one fetched and fast-forwarded first); its revision."""
    from shipyard.operations import gitrepo

    root = Path(repo.path)
    if repo.kind != "git":
        _validated(repo.name, root)
        return None
    before = gitrepo.revision(root)
    after = gitrepo.fast_forward(root)
    try:
        _validated(repo.name, root)
    except ShipyardError:
        gitrepo.reset_to(root, before)
        raise
    return after


# -- templates ------------------------------------------------------------------------------


def _entries(root: Path, *, strict: bool) -> list[IndexEntry]:
    """The entries of ``root``'s index file; with ``strict``, its problems raise."""
    from shipyard.spec.reading import read_spec_text

    index = root / INDEX_FILE
    try:
        text = read_spec_text(index)
    except ShipyardError:
        if strict:
            raise
        return []
    entries, problems = parse_index(text, str(index))
    if problems and strict:
        raise _invalid(root, problems)
    return entries


def _validated(name: str, root: Path) -> list[TemplateInfo]:
    """Every template of ``root``, each loaded and validated; one problem or more raise,
    every one named with its file:line."""
    problems: list[SpecProblem] = []
    infos = []
    for entry in _entries(root, strict=True):
        info, found = _load(name, root, entry)
        problems += found
        infos.append(info)
    if problems:
        raise _invalid(root, problems)
    return infos


def _read(repo: IndexRepo) -> list[TemplateInfo]:
    root = Path(repo.path)
    return [_load(repo.name, root, entry)[0] for entry in _entries(root, strict=True)]


def _load(repo: str, root: Path, entry: IndexEntry) -> tuple[TemplateInfo, list[SpecProblem]]:
    """A template's record, and its problems (an invalid one is recorded as not usable)."""
    from shipyard import __version__
    from shipyard.spec.loader import load_spec

    base = TemplateInfo(repo, entry.name, str(root / entry.file), entry.description)
    base = dataclasses.replace(base, requires=entry.requires)
    path, problem = _inside(root, entry)
    if problem is not None:
        return dataclasses.replace(base, usable=False, problem=problem.message), [problem]
    try:
        loaded = load_spec(path)
    except SpecError as error:
        first = str(error.problems[0]).splitlines()[0] if error.problems else error.message
        return dataclasses.replace(base, usable=False, problem=first), list(error.problems)
    info = _described(base, loaded.spec, path)
    refusal = newer_needed(entry.requires, __version__)
    if refusal is not None:
        info = dataclasses.replace(info, usable=False, problem=refusal)
    return info, []


def _inside(root: Path, entry: IndexEntry) -> tuple[Path, SpecProblem | None]:
    """The template's spec file, resolved, and why it cannot be read (outside the repository
    through a link, missing, not a file)."""
    where = Location(root / INDEX_FILE, entry.line, 1)
    path = (root / entry.file).resolve()
    if not path.is_relative_to(root.resolve()):
        message = f"template {entry.name!r}: {entry.file} leads outside the repository"
        return path, SpecProblem(message, where, hint="keep templates inside the repository")
    if not path.is_file():
        message = f"template {entry.name!r}: no file {entry.file} in the repository"
        return path, SpecProblem(message, where, hint="'file' is relative to the repository")
    return path, None


def _described(base: TemplateInfo, spec: Spec, path: Path) -> TemplateInfo:
    steps, services = list(spec.steps), list(spec.services)
    kind = "pipeline" if not services else ("mixed" if steps else "fleet")
    return dataclasses.replace(
        base,
        path=str(path),
        description=base.description or spec.description,
        parameters=parameter_menu(spec),
        kind=kind,
        steps=steps,
        services=services,
    )


def parameter_menu(spec: Spec) -> list[ParameterInfo]:
    """A spec's parameters as the typed menu every front end shows."""
    from shipyard.registry import ParameterInfo

    return [
        ParameterInfo(
            name=name,
            type=param.type,
            default=param.default,
            choices=list(param.choices or []),
            test=param.test,
            description=param.description,
            secret=param.secret,
        )
        for name, param in spec.parameters.items()
    ]


def _template(ops: Core, ref: str) -> TemplateInfo:
    repo_name, name = split_ref(ref)
    repo = _repo(ops, repo_name)
    found = _read(repo)
    for info in found:
        if info.name == name:
            return info
    known = ", ".join(f"{repo.name}/{info.name}" for info in found) or "none"
    raise ShipyardError(
        f"repository {repo.name!r} has no template {name!r}",
        hint=f"its templates: {known}",
    )


def _unusable_hint(info: TemplateInfo) -> str:
    if info.problem and "needs Shipyard" in info.problem:
        return "upgrade Shipyard, or use an older version of the template"
    return f"fix {info.path}, or: shipyard index update {info.repo}"


def _invalid(root: Path, problems: list[SpecProblem]) -> ShipyardError:
    count = len(problems)
    head = f"{root} has {count} problem{'s' if count != 1 else ''} in its templates"
    body = "\n".join(f"  {problem}" for problem in problems)
    return ShipyardError(f"{head}:\n{body}", hint="fix them, then add (or update) it again")
