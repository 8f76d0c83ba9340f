"""bench/peers.py: its launcher counts the CPU of the whole process tree, and a quick run of every
tool goes through (real doit, Snakemake, xargs and the installed shipyard)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "peers.py"


def load_peers() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_peers", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being created
    spec.loader.exec_module(module)
    return module


# The tool exits at once; its grandchild, orphaned in a session of its own, then burns 0.3 s
# of CPU. Without the launcher's subreaper that CPU would be counted nowhere.
ORPHANING_TOOL = textwrap.dedent(
    """
    import subprocess, sys
    burn = "import time\\nwhile time.process_time() < 0.3: pass"
    subprocess.Popen([sys.executable, "-c", burn], start_new_session=True)
    """
)


def test_the_launcher_counts_the_cpu_of_what_the_tool_orphans(tmp_path: Path) -> None:
    peers = load_peers()
    run = peers.launch([sys.executable, "-c", ORPHANING_TOOL], tmp_path, dict(os.environ), 60)
    assert run.cpu >= 0.3
    assert run.rss > 0


@pytest.mark.slow
def test_a_quick_round_runs_every_tool_on_both_workloads(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    done = subprocess.run(
        [sys.executable, str(BENCH), "--rounds", "1", "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(out.read_text())["quiet"]
    assert sorted(figures) == ["chain 10", "fan-out 40+1, P2"]
    for by_tool in figures.values():
        assert sorted(by_tool) == [
            "doit",
            "shipyard",
            "shipyard (plan cached)",
            "snakemake",
            "xargs",
            "xargs (bash -c)",
        ]
        assert all(len(runs) == 1 and runs[0]["cpu"] > 0 for runs in by_tool.values())
    assert "orchestrator CPU per step" in done.stdout
