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
import hmac
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from shipyard import __version__
from shipyard.plan.codec import PlanFormatError, decode, encode
from shipyard.plan.model import Plan
from shipyard.workspace import private_dir, write_private

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
            package / "plan" / "codec.py",
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
    secret: bytes = b"",
    base_port: str = "",
    environments: Mapping[str, Mapping[str, str]] | None = None,
) -> str:
    """The entry's name: an HMAC under ``secret`` (the home's own random key, see
    :meth:`PlanCache.secret`), never a plain hash — the overrides may hold a secret parameter's
    value, and a plain hash of a short value is undone by trying every candidate."""
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
            "base_port": base_port,  # $SHIPYARD_BASE_PORT: where a default `auto` port starts
            # the home's named environments (a capture again changes the plans using it)
            "environments": {name: dict(v) for name, v in (environments or {}).items()},
        },
        sort_keys=True,
    )
    return hmac.new(secret, material.encode(), hashlib.sha256).hexdigest()


class PlanCache:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def get(self, key: str) -> Plan | None:
        try:
            data = json.loads((self.folder / f"{key}.json").read_text(encoding="utf-8"))
            return decode(data)
        except (OSError, ValueError, KeyError, TypeError, PlanFormatError):
            return None  # e.g. another version's entry: the plan is built again

    def secret(self) -> bytes:
        """The home's random key for entry names (``cache/key``, owner-only), made on first use.
        Unreadable or unwritable: an empty key, and entries are only ever read back by this
        user, in a folder only this user can enter."""
        path = self.folder.parent / "key"
        try:
            return path.read_bytes()
        except FileNotFoundError:
            pass
        except OSError:
            return b""
        with contextlib.suppress(OSError):
            private_dir(self.folder.parent)
            partial = path.with_suffix(f".{os.getpid()}.tmp")
            write_private(partial, secrets.token_hex(32))
            with contextlib.suppress(FileExistsError):  # another process made it first
                os.link(partial, path)
            partial.unlink()
            return path.read_bytes()
        return b""

    def put(self, key: str, plan: Plan) -> None:
        with contextlib.suppress(OSError):  # a cache that cannot be written is only slower
            private_dir(self.folder.parent)
            private_dir(self.folder)
            target = self.folder / f"{key}.json"
            partial = target.with_suffix(f".{os.getpid()}.tmp")
            write_private(partial, json.dumps(encode(plan)))
            partial.replace(target)
            self._prune()

    def _prune(self) -> None:
        entries = sorted(self.folder.glob("*.json"), key=lambda path: path.stat().st_mtime)
        for stale in entries[:-KEEP]:
            stale.unlink(missing_ok=True)
