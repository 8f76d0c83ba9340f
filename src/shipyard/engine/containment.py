"""Every process a unit starts stops with the unit — also one that left its process group.

A unit's process group catches what stays in it; a process that calls ``setsid`` (a daemon, a
double fork) leaves it, and ignoring SIGTERM it would outlive its unit. Two mechanisms track the
whole tree of a unit run (one attempt of a step or hook, one start of a service):

* ``cgroup``: a cgroup v2 directory per unit run, under one directory per execution
  (``<our cgroup>/shipyard.<execution id>/unit.<k>``). The unit is *born* in it: this process
  joins the unit's cgroup for the instant of the spawn and goes back to its own, so no child can
  fork before it is tracked. Leaving a cgroup takes privileges a unit's processes should not
  have. "Anything left?" is one read of ``cgroup.events``; the kill is ``cgroup.kill`` (or
  freeze, SIGKILL every member, thaw, on kernels before 5.14). A unit run's cgroup, once seen
  empty, goes back to a small pool and serves a later unit run (an empty cgroup stays empty:
  nothing is left in it to fork), so a step costs no mkdir and rmdir; the descriptors of its
  ``cgroup.procs`` and ``cgroup.events`` stay open with it. One that is not empty when its run
  is released is never reused. The execution's directory and its pool are removed at the end
  (by the watchdog, or by ``status``, when this process died).
* ``marker``: where no writable cgroup2 hierarchy is found. Every unit run's environment carries
  ``SHIPYARD_UNIT=<execution id>/<unit>#<n>``, inherited by its descendants; its members are the
  processes of /proc with that variable. A /proc scan costs ~1 ms per 100 processes, too much for
  every step of a fan-out, so this process becomes a *child subreaper*: an orphaned descendant
  is re-parented to it instead of init, and "did anything escape?" at a unit's end is a look at
  this process's own children. The /proc scan runs only when something did, and once at the end.

A process that clears its environment *and* leaves the cgroup (or runs where there is none)
cannot be attributed to its unit; the marker mechanism's final sweep misses it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from shipyard.engine.process import group_alive, signal_group
from shipyard.workspace import write_private

T = TypeVar("T")

#: Forces a mechanism (``cgroup`` or ``marker``); ``auto`` (the default) prefers the cgroup.
CONTAINMENT_VARIABLE = "SHIPYARD_CONTAINMENT"
#: The run folder's record of the execution's cgroup, for cleanup after this process died.
CGROUP_RECORD = "cgroup"
_PREFIX = "shipyard."


class UnitScope:
    """The processes of one unit run, found by their ``SHIPYARD_UNIT`` marker.

    The base of both mechanisms: a cgroup scope whose cgroup could not be used falls back to it.
    """

    def __init__(self, marker: str, *, adopting: bool) -> None:
        self.marker = marker  # the value of SHIPYARD_UNIT
        self._needle = f"SHIPYARD_UNIT={marker}".encode()
        self._adopting = adopting  # this process is a subreaper: orphans come to it
        self._signalled: dict[int, int] = {}  # pid → a pidfd of it, to reap it if it is ours
        # The unit's leader (set by the runner once spawned): reaped by its exit watcher only.
        self.leader = 0

    def spawn(self, start: Callable[[], T]) -> T:
        """Start the unit's leader (``start`` spawns it) so that it is tracked from birth."""
        return start()

    def escaped(self) -> bool:
        """Called once the leader has exited and its group is empty: did anything of the unit
        survive? Cheap on the common path (nothing did)."""
        if not self._adopting:
            return self.alive()
        return any(self._is_member(pid) for pid in _own_children())

    def alive(self) -> bool:
        """Is any process of the unit alive (zombies do not count)?"""
        return bool(self.members())

    def members(self) -> list[int]:
        own = os.getpid()
        found = []
        for entry in os.scandir("/proc"):
            if entry.name.isdigit() and int(entry.name) != own and self._is_member(int(entry.name)):
                found.append(int(entry.name))
        return found

    def signal(self, sig: int) -> None:
        for pid in self.members():
            if self._adopting and pid != self.leader and pid not in self._signalled:
                # An orphan re-parented to us stays our zombie until we reap it: a pidfd now,
                # so that a recycled PID can never be reaped in its place. Never the leader
                # (it carries the marker too): reaping it in ``close`` before its exit watcher
                # ran left the watcher's wait4 with nothing to reap and the exit unrecorded,
                # so a fleet's `down` waited for ever.
                with contextlib.suppress(OSError):
                    self._signalled[pid] = os.pidfd_open(pid)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)

    def close(self) -> None:
        """The unit run is over and empty: release what tracked it, and reap the orphans it
        left us (not the leader, which its exit watcher reaps, before or after this)."""
        # Every one has exited before any is reaped: a killed orphan's own child, killed too,
        # is re-parented to us only as its parent's exit completes. Reaping in one pass missed
        # it (not ours yet) and left it a zombie of the engine. A pidfd reads ready once its
        # process has exited that far; "empty" (no member alive) came first, so this is short.
        deadline = time.monotonic() + REAP_WAIT
        for pidfd in self._signalled.values():
            _wait_exited(pidfd, deadline)
        for pidfd in self._signalled.values():
            with contextlib.suppress(OSError):
                os.waitid(os.P_PIDFD, pidfd, os.WEXITED | os.WNOHANG)  # ECHILD: not ours
            os.close(pidfd)
        self._signalled.clear()

    def _is_member(self, pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/environ", "rb") as handle:
                variables = handle.read()
        except OSError:
            return False  # gone, or a zombie (whose environment reads empty anyway)
        return self._needle in variables.split(b"\0")


class _Slot:
    """A unit cgroup of the execution's pool, with open descriptors of its ``cgroup.procs``
    (joined for a spawn) and ``cgroup.events`` (read again with one ``pread``). Plain string
    paths: this is the hot path of every step."""

    __slots__ = ("events", "path", "procs")

    def __init__(self, path: str) -> None:
        folder = Path(path)  # made once per slot: off the hot path
        folder.mkdir()
        procs = -1
        try:
            procs = os.open(f"{path}/cgroup.procs", os.O_WRONLY | os.O_CLOEXEC)
            self.events = os.open(f"{path}/cgroup.events", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            if procs >= 0:
                os.close(procs)
            folder.rmdir()
            raise
        self.procs = procs
        self.path = path

    def populated(self) -> bool:
        """Is any process in the cgroup or below it? (Zombies are not: a process leaves its
        cgroup as it exits.)"""
        if self.events < 0:
            return False  # closed with its execution: nothing of it runs any more
        try:
            return b"populated 1" in os.pread(self.events, 256, 0)
        except OSError:
            return False  # removed

    def close(self) -> None:
        for fd in (self.procs, self.events):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.procs = self.events = -1


class CgroupScope(UnitScope):
    """One unit run's cgroup v2 directory (a slot of the execution's pool); the marker still
    applies if the cgroup cannot."""

    def __init__(
        self, marker: str, slot: _Slot, home: int, give_back: Callable[[_Slot, bool], bool]
    ) -> None:
        super().__init__(marker, adopting=False)
        self.path = slot.path
        self._slot: _Slot | None = slot  # None once in the pool: it may serve another run
        self._home = home  # an open descriptor of our own cgroup's cgroup.procs
        self._give_back = give_back
        self._tracked = False  # the leader was born in the cgroup
        self._joined = True  # False once joining the cgroup failed: it serves no other run
        self._released = False

    def spawn(self, start: Callable[[], T]) -> T:
        assert self._slot is not None, "a closed scope spawns nothing"
        try:
            os.write(self._slot.procs, b"0")  # "0": this process joins it
        except OSError:
            self._joined = False  # removed under us, say: the next run gets another
            return start()  # not tracked by the cgroup: the marker is what is left
        try:
            self._tracked = True
            return start()
        finally:
            os.write(self._home, b"0")  # back to our own cgroup, at once

    def escaped(self) -> bool:
        return self.alive()

    def alive(self) -> bool:
        if not self._tracked:
            return super().alive()
        # Given back, it was empty: whatever runs in it now is another unit run's.
        return self._slot is not None and self._slot.populated()

    def members(self) -> list[int]:
        if not self._tracked:
            return super().members()
        return _cgroup_members(Path(self.path)) if self._slot is not None else []

    def kill(self) -> None:
        if not self._tracked:
            super().kill()
            return
        if self._slot is not None:
            _kill_cgroup(Path(self.path))

    def close(self) -> None:
        """Give the cgroup back (once: a fleet may close a run twice); still populated, it
        stays this scope's, to be asked and killed, until the execution's end."""
        super().close()
        if self._slot is not None and not self._released:
            self._released = True
            if self._give_back(self._slot, self._joined):
                self._slot = None


class Containment:
    """Hands out the scopes of one execution's unit runs: the ``marker`` mechanism."""

    mechanism = "marker"

    def __init__(self, execution_id: str) -> None:
        self.execution_id = execution_id
        self._runs = itertools.count(1)
        # A host program (the Python API) gets its process back as it was, at close.
        self.adopting, self._was_subreaper = _subreaper(True)

    def scope(self, unit: str) -> UnitScope:
        return UnitScope(self._marker(unit), adopting=self.adopting)

    def detail(self) -> str:
        """What the engine's ``containment`` event says beside the mechanism's name."""
        if self.adopting:
            return "SHIPYARD_UNIT marker; orphans come back to this process (child subreaper)"
        return "SHIPYARD_UNIT marker; no subreaper: /proc is scanned at each unit's end"

    def close(self) -> None:
        """The execution is over: one sweep for anything of it still running."""
        from shipyard.engine.liveness import kill_marked

        kill_marked(self.execution_id)
        if self.adopting and not self._was_subreaper:
            _subreaper(False)

    def _marker(self, unit: str) -> str:
        return f"{self.execution_id}/{unit}#{next(self._runs)}"


class CgroupContainment(Containment):
    """One cgroup per unit run at a time, under ``root`` (the execution's own cgroup), taken
    from a pool of empty ones (``POOL`` kept at most) or made."""

    mechanism = "cgroup"
    POOL = 16  # empty unit cgroups kept for reuse: a fan-out needs max_parallel of them

    def __init__(self, execution_id: str, root: Path, home: Path, run_root: Path) -> None:
        self.execution_id = execution_id
        self._runs = itertools.count(1)
        self.adopting = self._was_subreaper = False
        self.root = root
        self._root = str(root)
        self._home_path = home
        self._run_root = run_root
        self._home = -1  # our own cgroup.procs, opened with the first unit's cgroup
        self._slots = itertools.count(1)
        self._free: list[_Slot] = []  # empty, ready for the next unit run
        self._kept: list[_Slot] = []  # not empty when released: removed with the execution
        self._closed = False

    def scope(self, unit: str) -> UnitScope:
        marker = self._marker(unit)
        try:
            slot = self._free.pop() if self._free else self._new_slot()
        except OSError:
            return UnitScope(marker, adopting=False)  # the marker is what is left
        return CgroupScope(marker, slot, self._home, self._give_back)

    def _new_slot(self) -> _Slot:
        self._create()
        return _Slot(f"{self._root}/unit.{next(self._slots)}")

    def _give_back(self, slot: _Slot, usable: bool) -> bool:
        """A unit run is released: its cgroup, if empty (and it could be joined), serves the
        next one (True). An empty cgroup stays empty (nothing is left in it to fork), so no
        process of this run can ever be counted in the next. One still populated (its run could
        not be emptied) is never handed out again: kept apart until the execution's end kills
        and removes it."""
        if slot.populated():
            self._kept.append(slot)
            return False
        if usable and not self._closed and len(self._free) < self.POOL:
            self._free.append(slot)
        else:
            slot.close()
            _remove_cgroup(Path(slot.path))
        return True

    def _create(self) -> None:
        """The execution's cgroup, made when its first unit starts (an executor that never
        runs leaves nothing behind), and noted in the run folder for cleanup after a crash."""
        if self._home >= 0:
            return
        self.root.mkdir(exist_ok=True)
        write_private(self._run_root / CGROUP_RECORD, f"{self.root}\n")  # owner-only
        self._home = os.open(self._home_path / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC)

    def detail(self) -> str:
        return str(self.root)

    def close(self) -> None:
        """Kill whatever is left in the execution's cgroup and remove it (and sweep for any
        marked process that left it: one /proc scan per execution)."""
        super().close()
        self._closed = True
        if self._home < 0:
            return  # no unit ever started: no cgroup was made
        _kill_cgroup(self.root)
        _wait_empty(self.root, timeout=5.0)
        for slot in self._free + self._kept:
            slot.close()
        self._free, self._kept = [], []
        _remove_cgroup(self.root)  # the pool's cgroups first, then the execution's
        with contextlib.suppress(OSError):
            os.close(self._home)
        self._home = -1


def choose_containment(execution_id: str, run_root: Path) -> Containment:
    """The cgroup mechanism where this machine allows it (unless ``SHIPYARD_CONTAINMENT`` says
    ``marker``), else the marker. The cgroup's path is noted in the run folder for cleanup."""
    wanted = os.environ.get(CONTAINMENT_VARIABLE, "auto").strip().lower() or "auto"
    if wanted != "marker":
        home = _own_cgroup()
        root = home / f"{_PREFIX}{execution_id}" if home is not None else None
        if home is not None and root is not None and _may_create(root):
            return CgroupContainment(execution_id, root, home, run_root)
    return Containment(execution_id)


def _may_create(root: Path) -> bool:
    """Can we make the execution's cgroup and move processes in and out of our own? Tried for
    real (made and removed at once): permissions on cgroupfs say little under delegation."""
    try:
        root.mkdir()
    except OSError:
        return False
    with contextlib.suppress(OSError):
        root.rmdir()
    return os.access(root.parent / "cgroup.procs", os.W_OK)


async def terminate_unit(
    pgid: int, scope: UnitScope, sig: int, grace: float, *, poll: float = 0.02
) -> bool:
    """``sig`` to the unit's group and to every process of its scope, SIGKILL to both after
    ``grace`` seconds; wait until nothing of the unit is left. True if SIGKILL was needed."""

    def alive() -> bool:
        return group_alive(pgid) or scope.alive()

    signal_group(pgid, sig)
    scope.signal(sig)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not alive():
            return False
        await asyncio.sleep(poll)
    signal_group(pgid, signal.SIGKILL)
    scope.kill()
    # SIGKILL cannot be ignored; give the kernel a moment to tear the processes down.
    for _ in range(250):
        if not alive():
            break
        await asyncio.sleep(poll)
    return True


def kill_now(pgid: int, scope: UnitScope) -> None:
    """SIGKILL the unit's group and everything of its scope, without waiting."""
    signal_group(pgid, signal.SIGKILL)
    scope.kill()


async def release(scope: UnitScope, *, poll: float = 0.02, limit: float = 10.0) -> None:
    """Wait (bounded) until a killed unit run is empty, then release its scope."""
    deadline = time.monotonic() + limit
    while scope.alive() and time.monotonic() < deadline:
        await asyncio.sleep(poll)
    scope.close()


def kill_recorded_cgroup(run_root: Path) -> bool:
    """After the process running an execution died: kill what is left in the cgroup its run
    folder records, and remove it. Only a ``shipyard.<id>`` directory of a cgroup2 mount is
    ever touched, whatever the record says. True if there was one."""
    try:
        recorded = Path((run_root / CGROUP_RECORD).read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return False
    if recorded.name != f"{_PREFIX}{run_root.name}" or not _on_cgroup2(recorded):
        return False
    if not recorded.is_dir():
        return False
    _kill_cgroup(recorded)
    _wait_empty(recorded, timeout=5.0)
    _remove_cgroup(recorded)
    return True


# -- cgroup files ----------------------------------------------------------------------------


def cgroup2_mounts(mountinfo: str) -> list[tuple[str, str, bool]]:
    """(root inside the hierarchy, mount point, writable) of each cgroup2 mount listed in
    /proc/self/mountinfo's text."""
    mounts = []
    for line in mountinfo.splitlines():
        before, _, after = line.partition(" - ")
        fields, tail = before.split(), after.split()
        if len(fields) < 6 or not tail or tail[0] != "cgroup2":
            continue
        writable = "rw" in fields[5].split(",")
        point = fields[4].replace("\\040", " ")
        mounts.append((fields[3], point, writable))
    return mounts


def cgroup_dir(mounts: list[tuple[str, str, bool]], own: str) -> Path | None:
    """The directory of our own cgroup (``own``: the ``0::`` path of /proc/self/cgroup) on the
    first writable cgroup2 mount that shows it."""
    for root, point, writable in mounts:
        if not writable:
            continue
        if own == root or root == "/":
            relative = own.removeprefix(root)
        elif own.startswith(root.rstrip("/") + "/"):
            relative = own[len(root.rstrip("/")) :]
        else:
            continue
        return Path(point, relative.lstrip("/"))
    return None


def _own_cgroup() -> Path | None:
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as info:
            mounts = cgroup2_mounts(info.read())
        with open("/proc/self/cgroup", encoding="utf-8") as groups:
            lines = groups.read().splitlines()
    except OSError:
        return None
    own = next((line[3:] for line in lines if line.startswith("0::")), None)
    if own is None or not mounts:
        return None
    folder = cgroup_dir(mounts, own)
    if folder is None or not (folder / "cgroup.procs").exists():
        return None
    return folder


def _on_cgroup2(path: Path) -> bool:
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as info:
            mounts = cgroup2_mounts(info.read())
    except OSError:
        return False
    return any(path.is_relative_to(point) and str(path) != point for _, point, _ in mounts)


def _cgroup_members(path: Path) -> list[int]:
    """Every process in ``path`` and the cgroups below it (a unit may make its own)."""
    pids: list[int] = []
    for folder, _, _ in os.walk(path):
        with contextlib.suppress(OSError):
            pids += [int(pid) for pid in Path(folder, "cgroup.procs").read_text().split()]
    return pids


def _kill_cgroup(path: Path) -> None:
    if not path.is_dir():
        return
    try:
        (path / "cgroup.kill").write_text("1")  # the whole subtree, at once (Linux 5.14+)
        return
    except FileNotFoundError:
        pass  # an older kernel: freeze it so nothing forks, kill every member, thaw
    except OSError:
        return  # already removed
    freeze = path / "cgroup.freeze"
    with contextlib.suppress(OSError):
        freeze.write_text("1")
    for pid in _cgroup_members(path):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        freeze.write_text("0")


def _wait_empty(path: Path, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if b"populated 0" in (path / "cgroup.events").read_bytes():
                return
        except OSError:
            return
        time.sleep(0.01)


def _remove_cgroup(path: Path) -> None:
    """rmdir the cgroup and any a unit made below it, deepest first (only empty ones go)."""
    try:
        path.rmdir()  # the common case: one empty cgroup, one system call
        return
    except FileNotFoundError:
        return
    except OSError:
        pass
    for folder, _, _ in sorted(os.walk(path), key=lambda entry: -len(entry[0])):
        with contextlib.suppress(OSError):
            Path(folder).rmdir()


# -- the subreaper ---------------------------------------------------------------------------

#: At most this long (seconds) for the killed orphans of a unit to finish exiting at its end.
REAP_WAIT = 2.0


def _wait_exited(pidfd: int, deadline: float) -> None:
    """Until the process of ``pidfd`` has exited (its pidfd reads ready), or ``deadline``."""
    import select

    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    remaining = deadline - time.monotonic()
    if remaining > 0:
        poller.poll(remaining * 1000)


_PR_SET_CHILD_SUBREAPER = 36
_PR_GET_CHILD_SUBREAPER = 37


def _subreaper(on: bool) -> tuple[bool, bool]:
    """Make orphaned descendants this process's children (Linux 3.4+), or stop doing so:
    (done, whether it was so before). (False, False) where it cannot be done."""
    import ctypes  # only for the marker mechanism

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        before = ctypes.c_int(0)
        libc.prctl(_PR_GET_CHILD_SUBREAPER, ctypes.byref(before), 0, 0, 0)
        done = libc.prctl(_PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False, False
    return bool(done and _own_children_available()), bool(before.value)


def _own_children_available() -> bool:
    return Path(f"/proc/self/task/{os.getpid()}/children").exists()


def _own_children() -> list[int]:
    """This process's children, over all its threads (an orphan goes to one of them)."""
    children: list[int] = []
    for task in os.scandir("/proc/self/task"):
        with contextlib.suppress(OSError), open(f"{task.path}/children", "rb") as handle:
            children += [int(pid) for pid in handle.read().split()]
    return children


__all__ = [
    "CONTAINMENT_VARIABLE",
    "CgroupContainment",
    "Containment",
    "UnitScope",
    "choose_containment",
    "kill_now",
    "kill_recorded_cgroup",
    "release",
    "terminate_unit",
]
