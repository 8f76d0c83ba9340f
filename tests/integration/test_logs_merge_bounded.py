"""`shipyard logs --all --level … --export` in bounded memory on large logs: two units of 40 MB
each, written at once with interleaved times, merged through the real CLI. Peak memory is the
``ru_maxrss`` of the CLI process, measured as tests/integration/test_logs_bounded.py does (a
launcher that caps the address space, so gathering a whole log fails at once)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from tests.integration.test_logs_bounded import (
    ADDRESS_SPACE_CAP,
    LAUNCHER,
    PEAK_BOUND_KB,
    _env,
    _shipyard,
)

LINES = 400_000  # per unit, about 100 bytes each: 2 x 40 MB

#: Every line but each 10th stamped (ISO 8601, UTC, a microsecond apart from the writer's
#: start); each 100th a WARNING, the others INFO; each 10th plain. Both units start at once, so
#: their times interleave.
WRITER = """\
import sys, time
from datetime import UTC, datetime
me, lines = sys.argv[1], int(sys.argv[2])
start = time.time()
pad = "x" * 40
write = sys.stdout.write
chunk = []
for i in range(lines):
    if i % 10 == 9:
        chunk.append(f"plain continuation {me} {i:09d} {pad}\\n")
    else:
        stamp = datetime.fromtimestamp(start + i * 1e-6, UTC).isoformat(timespec="microseconds")
        level = "WARNING" if i % 100 == 0 else "INFO"
        chunk.append(f"{stamp.replace('+00:00', 'Z')} {level} {me} {i:09d} {pad}\\n")
    if len(chunk) == 10000:
        write("".join(chunk))
        chunk = []
write("".join(chunk))
"""


@dataclass
class BigLogs:
    home: Path
    execution_id: str
    folder: Path


@pytest.fixture(scope="module")
def big_logs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BigLogs]:
    folder = tmp_path_factory.mktemp("bigmerge")
    (folder / "writer.py").write_text(WRITER)
    writer = folder / "writer.py"
    spec = folder / "spec.yaml"
    spec.write_text(
        "name: bigmerge\nsteps:\n"
        f"  left: {{run: [{sys.executable}, {writer}, left, '{LINES}']}}\n"
        f"  right: {{run: [{sys.executable}, {writer}, right, '{LINES}']}}\n"
    )
    home = folder / "home"
    done = subprocess.run(
        [_shipyard(), "run", "-q", str(spec)],
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    yield BigLogs(home, done.stdout.split()[0], folder)


def _measure(big: BigLogs, *args: str, output: Path) -> tuple[int, str]:
    """(peak RSS in KB of `shipyard logs ARGS`, its stderr); exits 0 or fails the test."""
    launcher = [sys.executable, "-c", LAUNCHER, str(ADDRESS_SPACE_CAP), str(output)]
    done = subprocess.run(
        [*launcher, _shipyard(), "logs", big.execution_id, *args],
        env=_env(big.home),
        cwd=big.folder,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    code, peak = done.stdout.split()
    assert code == "0", f"shipyard logs {' '.join(args)} failed:\n{done.stderr[-2000:]}"
    assert int(peak) < PEAK_BOUND_KB, (
        f"shipyard logs {' '.join(args)} peaked at {int(peak) // 1024} MB on 2 x 40 MB of logs "
        f"(bound {PEAK_BOUND_KB // 1024} MB)"
    )
    return int(peak), done.stderr


def _times(path: Path) -> Iterator[tuple[str, datetime]]:
    """(unit, time) of each exported line, read a line at a time."""
    with path.open() as lines:
        for line in lines:
            unit = line[10 : line.index('"', 10)]
            at = line.index('"time": "') + 9
            yield unit, datetime.fromisoformat(line[at : line.index('"', at)])


# 2 x 40 MB of logs: minutes on a busy 2-core machine (the suite runs in parallel); the
# figures checked are memory, not time.
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_merging_two_large_logs_streams(big_logs: BigLogs) -> None:
    out = big_logs.folder / "merged.jsonl"
    _measure(big_logs, "--all", "--export", str(out), output=big_logs.folder / "said.txt")
    assert (big_logs.folder / "said.txt").read_text().strip() == (
        f"wrote {2 * LINES} log lines to {out}"
    )
    count, switches, previous = 0, 0, None
    last_unit = None
    for unit, at in _times(out):
        assert previous is None or at >= previous, f"line {count + 1} is placed before line {count}"
        previous = at
        switches += unit != last_unit
        last_unit = unit
        count += 1
    assert count == 2 * LINES
    assert switches > 100  # the units' lines interleave, they are not one block after the other


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_filtering_a_large_merge_streams(big_logs: BigLogs) -> None:
    out = big_logs.folder / "warnings.txt"
    _measure(big_logs, "--all", "--level", "warning", output=out)
    with out.open() as lines:
        kept = sum(1 for _ in lines)
    # a WARNING each 100 lines; the continuation lines after it are plain only at i % 10 == 9
    assert kept == 2 * LINES // 100
