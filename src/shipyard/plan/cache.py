"""A content-addressed cache of built plans, so re-running a pipeline skips spec validation.

Validating a spec needs Pydantic, and importing Pydantic and building the spec models costs more
than a hundred milliseconds — as much as running a hundred short steps. A plan depends only on
the spec's text and path, the parameter overrides, the mode, ``--max-parallel``, the machine's
core count and Shipyard's version; that is the key. A miss (or an unreadable entry) just builds
the plan again; entries are written atomically, so a crash never leaves a half entry behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

from shipyard import __version__
from shipyard.plan.model import Plan

FORMAT = 2
KEEP = 64  # newest entries kept; older ones are removed when a new one is written


def _code_fingerprint() -> list[tuple[str, int, int]]:
    """Size and mtime of the modules that turn a spec into a plan: an upgraded or edited
    Shipyard never reuses a plan an older one built (a few stat calls, no reading)."""
    package = Path(__file__).resolve().parents[1]
    files = sorted(
        [
            *package.glob("spec/*.py"),
            package / "plan" / "build.py",
            package / "plan" / "model.py",
            package / "dag.py",
            package / "topology.py",
        ]
    )
    result = []
    for path in files:
        info = path.stat()
        result.append((path.name, info.st_size, info.st_mtime_ns))
    return result


def plan_key(
    *,
    spec_text: str,
    spec_path: str,
    overrides: Mapping[str, object],
    mode: str,
    max_parallel: int | None,
    cores: int,
) -> str:
    material = json.dumps(
        {
            "format": FORMAT,
            "version": __version__,
            "code": _code_fingerprint(),
            "path": spec_path,
            "text": spec_text,
            "overrides": {name: str(value) for name, value in sorted(overrides.items())},
            "mode": mode,
            "max_parallel": max_parallel,
            "cores": cores,
        },
        sort_keys=True,
    )
    return hashlib.sha256(material.encode()).hexdigest()


class PlanCache:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def get(self, key: str) -> Plan | None:
        try:
            data = json.loads((self.folder / f"{key}.json").read_text(encoding="utf-8"))
            return Plan.from_dict(data)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, key: str, plan: Plan) -> None:
        with contextlib.suppress(OSError):  # a cache that cannot be written is only slower
            self.folder.mkdir(parents=True, exist_ok=True)
            target = self.folder / f"{key}.json"
            partial = target.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(json.dumps(plan.to_dict()), encoding="utf-8")
            partial.replace(target)
            self._prune()

    def _prune(self) -> None:
        entries = sorted(self.folder.glob("*.json"), key=lambda path: path.stat().st_mtime)
        for stale in entries[:-KEEP]:
            stale.unlink(missing_ok=True)
