"""The spec's hosts (issue 16): Jarvis-CD's bracket expansion, [user@]name[:port], names, a
hostfile's lines and comments, placement in turn; and the placement keys checked against them
with file:line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shipyard.errors import SpecError
from shipyard.plan.build import build_plan
from shipyard.plan.model import HostEntry
from shipyard.spec.hosts import HostsProblem, expand, hostfile_entries, placement, resolve
from shipyard.spec.loader import load_spec, load_spec_text


@pytest.mark.parametrize(
    ("pattern", "expanded"),
    [
        ("node", ["node"]),
        ("node[01-04]", ["node01", "node02", "node03", "node04"]),
        ("n[1,3,5-6]", ["n1", "n3", "n5", "n6"]),
        ("n[8-10]", ["n8", "n9", "n10"]),
        ("r[1-2]c[1-2]", ["r1c1", "r1c2", "r2c1", "r2c2"]),
        ("me@gpu[1-2]:2222", ["me@gpu1:2222", "me@gpu2:2222"]),
    ],
)
def test_brackets_expand(pattern: str, expanded: list[str]) -> None:
    assert expand(pattern) == expanded


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("node[01-04", "unmatched bracket"),
        ("node[a-b]", "not a list of numbers"),
        ("node[4-1]", "runs backwards"),
        ("node[1-20000]", "more than 10000 hosts"),
    ],
)
def test_bad_brackets_say_what_is_wrong(pattern: str, problem: str) -> None:
    with pytest.raises(HostsProblem, match=problem):
        expand(pattern)


def test_entries_are_named_by_address_or_address_and_port_when_shared() -> None:
    hosts = resolve([(1, "me@node01:2222"), (2, "node02"), (3, "127.0.0.1:2201"),
                     (3, "127.0.0.1:2202")])  # fmt: skip
    assert hosts == [
        HostEntry("node01", "node01", "me", 2222),
        HostEntry("node02", "node02"),
        HostEntry("127.0.0.1:2201", "127.0.0.1", None, 2201),
        HostEntry("127.0.0.1:2202", "127.0.0.1", None, 2202),
    ]


@pytest.mark.parametrize(
    ("written", "problem", "line"),
    [
        ([(4, "node01"), (7, "node01")], "host 'node01' is listed twice (line 4)", 7),
        ([(2, "a b@c")], "is not a host", 2),
        ([(5, "node:70000")], "port 70000 is outside 1-65535", 5),
        ([], "no hosts are listed", None),
    ],
)
def test_bad_entries_name_their_line(
    written: list[tuple[int | None, str]], problem: str, line: int | None
) -> None:
    with pytest.raises(HostsProblem, match=re.escape(problem)) as caught:
        resolve(list(written))
    assert caught.value.line == line


def test_a_hostfile_skips_comments_and_blank_lines() -> None:
    text = "# the allocation\nnode[01-02]  # two\n\nme@login:22, gpu1\n"
    assert hostfile_entries(text) == [(2, "node[01-02]"), (4, "me@login:22"), (4, "gpu1")]


def test_placement_takes_the_hosts_in_turn_unless_a_unit_names_one() -> None:
    hosts = [HostEntry("a", "a"), HostEntry("b", "b")]
    units = [("s1", None), ("s2", "a"), ("s3", None), ("s4", None)]
    assert placement(hosts, units) == {"s1": "a", "s2": "a", "s3": "b", "s4": "a"}


SPEC = """\
name: hpc
hosts: {hosts}
steps:
  first:
    run: [hostname]
    runner: ssh
  second:
    run: [hostname]
    runner: ssh
    host: {host}
  ranks:
    run: [hostname]
    mpi: {{nprocs: 4, ppn: 2}}
  batch:
    run: [hostname]
    runner: slurm
    slurm: {{time: "5", extra: [--exclusive]}}
"""


def test_a_plan_places_units_on_their_runners(tmp_path: Path) -> None:
    (tmp_path / "hosts.txt").write_text("# allocation\nnode[01-02]\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(hosts="hosts.txt", host="node01"))
    (tmp_path / "top.yaml").write_text(
        SPEC.format(hosts="hosts.txt", host="node01") + "slurm: {partition: debug, time: '9'}\n"
    )
    plan = build_plan(load_spec(spec))
    placed = {s.name: (s.runner, s.host, s.hosts) for s in plan.steps}
    assert placed == {
        "first": ("ssh:node01", "node01", []),
        "second": ("ssh:node01", "node01", []),
        "ranks": ("local", "", ["node01", "node02"]),
        "batch": ("slurm", "", []),
    }
    assert [h.name for h in plan.hosts] == ["node01", "node02"]
    merged = build_plan(load_spec(tmp_path / "top.yaml")).step("batch").slurm
    assert merged is not None
    assert (merged.partition, merged.time, merged.extra) == ("debug", "5", ["--exclusive"])


@pytest.mark.parametrize(
    ("text", "problem", "line"),
    [
        (SPEC.format(hosts="[node01]", host="node9"),
         "host 'node9' is not one of the spec's hosts", 10),
        ("name: x\nsteps:\n  a:\n    run: [true]\n    runner: ssh\n",
         "has runner: ssh but the spec lists no hosts", 5),
        ("name: x\nhosts: [n1]\nsteps:\n  a:\n    run: [true]\n    host: n1\n",
         "has host: 'n1' but runs on runner: local", 6),
        ("name: x\nsteps:\n  a:\n    run: [true]\n    slurm: {time: '1'}\n",
         "has slurm: settings but runs on runner: local", 5),
        ("name: x\nhosts: [n1]\nsteps:\n  a:\n    run: [true]\n    hosts: [n1]\n",
         "has hosts: but no mpi:", 6),
        ("name: x\nservices:\n  a:\n    run: [sleep, '9']\n    runner: slurm\n",
         "services run on local or ssh", 5),
        ("name: x\nsteps:\n  a:\n    run: [true]\n    runner: sssh\n",
         "unknown runner 'sssh'", 5),
        ("name: x\nhosts: ['node[1-']\nsteps:\n  a:\n    run: [true]\n",
         "unmatched bracket", 2),
    ],
)  # fmt: skip
def test_placement_problems_have_file_and_line(text: str, problem: str, line: int) -> None:
    with pytest.raises(SpecError) as caught:
        load_spec_text(text, Path("/specs/x.yaml"))
    found = [p for p in caught.value.problems if problem in p.message]
    assert found, f"no problem saying {problem!r} in: {[str(p) for p in caught.value.problems]}"
    assert found[0].location is not None and found[0].location.line == line, str(found[0])


def test_a_bad_hostfile_entry_is_reported_at_its_own_line(tmp_path: Path) -> None:
    (tmp_path / "hosts.txt").write_text("node01\n\n# spare\nnode[02-\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(hosts="hosts.txt", host="node01"))
    with pytest.raises(SpecError) as caught:
        load_spec(spec)
    where = [str(p) for p in caught.value.problems]
    assert any(f"{tmp_path / 'hosts.txt'}:4:1: 'node[02-' has an unmatched bracket" in w
               for w in where), where  # fmt: skip


def test_a_missing_hostfile_says_which(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(hosts="nowhere.txt", host="node01"))
    with pytest.raises(SpecError, match=r"hostfile 'nowhere.txt' cannot be read"):
        load_spec(spec)
