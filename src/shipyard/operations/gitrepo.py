"""The few git commands the template index runs: clone, fetch + fast-forward, the revision.

Always an argv (never a shell), ``--`` before a user's URL so it cannot be read as an option,
no terminal prompt (a URL that wants a password fails instead of waiting), and transports that
run commands (``ext::``) refused whatever the user's git configuration says.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from shipyard.errors import ShipyardError

#: A clone or fetch bigger or slower than this is not a template repository.
GIT_TIMEOUT = 300.0
_SAFETY = ("-c", "protocol.ext.allow=never", "-c", "core.hooksPath=/dev/null")
_URL = re.compile(r"^(?:(?:https?|ssh|git|file)://\S+|[\w.-]+@[\w.-]+:\S+)$")


def looks_like_url(source: str) -> bool:
    """A URL git can clone: ``https://``, ``http://``, ``ssh://``, ``git://``, ``file://`` or
    scp-like ``user@host:path``."""
    return bool(_URL.match(source))


def is_repository(folder: Path) -> bool:
    """Whether ``folder`` is a git repository (a work tree or a bare one)."""
    if not folder.is_dir():
        return False
    return _git(["rev-parse", "--git-dir"], cwd=folder, check=False).returncode == 0


def clone(source: str, into: Path) -> str:
    """Clone ``source`` into ``into`` (which must not exist); returns the commit checked out."""
    done = _git(["clone", "--quiet", "--", source, str(into)], cwd=into.parent, check=False)
    if done.returncode != 0:
        raise ShipyardError(
            f"git could not clone {source}: {_last_line(done.stderr)}",
            hint="check the URL (and that it is a git repository); "
            "a local folder of templates can be added by its path",
        )
    head = _git(["rev-parse", "HEAD"], cwd=into, check=False)
    if head.returncode != 0:
        raise ShipyardError(
            f"the git repository {source} has no commit yet",
            hint="commit shipyard-index.yaml and its templates, then add it",
        )
    return head.stdout.strip()


def fast_forward(clone_dir: Path) -> str:
    """Fetch the clone's upstream and fast-forward to it; returns the commit now checked out."""
    for args in (["fetch", "--quiet", "origin"], ["merge", "--quiet", "--ff-only", "@{upstream}"]):
        done = _git(args, cwd=clone_dir, check=False)
        if done.returncode != 0:
            raise ShipyardError(
                f"git {args[0]} failed in {clone_dir}: {_last_line(done.stderr)}",
                hint="the upstream may be unreachable, or its history was rewritten: "
                "remove the repository and add it again",
            )
    return revision(clone_dir)


def reset_to(clone_dir: Path, commit: str) -> None:
    """Put the clone back at ``commit`` (an update whose templates did not validate)."""
    _git(["reset", "--quiet", "--hard", commit], cwd=clone_dir, check=True)


def revision(folder: Path) -> str:
    return _git(["rev-parse", "HEAD"], cwd=folder, check=True).stdout.strip()


def _git(args: list[str], *, cwd: Path, check: bool) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "LC_ALL": "C"}
    try:
        done = subprocess.run(
            ["git", *_SAFETY, *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except FileNotFoundError:
        raise ShipyardError(
            "git is not installed", hint="install git (apt-get install git) to use git URLs"
        ) from None
    except subprocess.TimeoutExpired:
        raise ShipyardError(
            f"git {args[0]} took longer than {GIT_TIMEOUT:.0f} s in {cwd}",
            hint="check the repository's URL and the network",
        ) from None
    if check and done.returncode != 0:
        raise ShipyardError(f"git {args[0]} failed in {cwd}: {_last_line(done.stderr)}")
    return done


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"
