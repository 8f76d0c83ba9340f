"""Measured resource use of running units: psutil samples of each unit's whole process tree.

CPU % comes from the change in the tree's CPU time between two samples (100 = one busy core);
memory is the summed RSS of the tree; I/O is the bytes each process read and wrote. Samples are
taken by one periodic task for all units, so the cost does not grow with the number of steps
that finish between two ticks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shipyard.models import ResourceUsage

if TYPE_CHECKING:
    import psutil


@dataclass
class _Track:
    root: psutil.Process
    last_cpu: dict[int, float] = field(default_factory=dict)
    last_time: float = 0.0
    cpu_peak: float = 0.0
    cpu_sum: float = 0.0
    cpu_samples: int = 0
    rss_peak: int = 0
    rss_sum: int = 0
    samples: int = 0
    io_read: dict[int, int] = field(default_factory=dict)
    io_write: dict[int, int] = field(default_factory=dict)
    cpu_last: float | None = None  # the latest sample's CPU %, the monitor's "now"
    rss_last: int = 0


class ResourceSampler:
    def __init__(self) -> None:
        self._tracks: dict[str, _Track] = {}

    def sample(self, running: dict[str, tuple[int, float]]) -> None:
        """Take one sample of each running unit: ``{key: (pid, started_monotonic)}``.

        A unit is first looked at on the first tick after it started, so steps shorter than the
        interval cost nothing here; their figures come from the kernel's rusage at exit.
        """
        import psutil  # imported on first use: most short runs never need it

        for key, (pid, started) in running.items():
            track = self._tracks.get(key)
            if track is None:
                try:
                    root = psutil.Process(pid)
                except psutil.Error:
                    continue
                # The process was born with no CPU time: that is the baseline of the first delta.
                track = self._tracks[key] = _Track(root, last_cpu={pid: 0.0}, last_time=started)
            self._sample(track)

    def finish(self, key: str, *, cpu_seconds: float) -> ResourceUsage:
        """Stop tracking ``key`` and summarise, with the leader's CPU time from wait4.

        The kernel's ``ru_maxrss`` is not used: after a vfork it reports the parent's memory.
        A unit that ended before the first sample has no memory figure rather than a wrong one.
        """
        track = self._tracks.pop(key, None)
        if track is None or track.samples == 0:
            return ResourceUsage(cpu_seconds=round(cpu_seconds, 4), samples=0)
        return _summary(track, cpu_seconds=round(cpu_seconds, 4))

    def current(self, key: str) -> ResourceUsage | None:
        """The figures so far of a running unit (None before its first sample)."""
        track = self._tracks.get(key)
        if track is None or track.samples == 0:
            return None
        return _summary(track, cpu_seconds=None)

    def _sample(self, track: _Track) -> None:
        import psutil

        try:
            processes = [track.root, *track.root.children(recursive=True)]
        except psutil.Error:
            return
        now = time.monotonic()
        cpu_now: dict[int, float] = {}
        rss = 0
        for process in processes:
            try:
                with process.oneshot():
                    times = process.cpu_times()
                    rss += process.memory_info().rss
                    cpu_now[process.pid] = times.user + times.system
                    try:
                        io = process.io_counters()
                        track.io_read[process.pid] = io.read_bytes
                        track.io_write[process.pid] = io.write_bytes
                    except (psutil.AccessDenied, AttributeError):
                        pass
            except psutil.Error:
                continue
        if not cpu_now:
            return
        elapsed = now - track.last_time
        if track.last_cpu and elapsed > 0:
            # Only processes seen both times count: a newcomer's CPU started before we saw it.
            used = sum(
                cpu - track.last_cpu[pid] for pid, cpu in cpu_now.items() if pid in track.last_cpu
            )
            percent = max(0.0, 100.0 * used / elapsed)
            track.cpu_peak = max(track.cpu_peak, percent)
            track.cpu_last = percent
            track.cpu_sum += percent
            track.cpu_samples += 1
        track.last_cpu = cpu_now
        track.last_time = now
        track.rss_peak = max(track.rss_peak, rss)
        track.rss_last = rss
        track.rss_sum += rss
        track.samples += 1


def _summary(track: _Track, *, cpu_seconds: float | None) -> ResourceUsage:
    """The figures of ``track``; with no ``cpu_seconds`` (still running) its latest sample
    too."""
    live = cpu_seconds is None
    return ResourceUsage(
        cpu_percent_now=round(track.cpu_last, 1) if live and track.cpu_last is not None else None,
        rss_now_bytes=track.rss_last if live else None,
        cpu_percent_peak=round(track.cpu_peak, 1) if track.cpu_samples else None,
        cpu_percent_mean=round(track.cpu_sum / track.cpu_samples, 1) if track.cpu_samples else None,
        rss_peak_bytes=track.rss_peak,
        rss_mean_bytes=track.rss_sum // track.samples,
        read_bytes=sum(track.io_read.values()) if track.io_read else None,
        write_bytes=sum(track.io_write.values()) if track.io_write else None,
        cpu_seconds=cpu_seconds,
        samples=track.samples,
    )
