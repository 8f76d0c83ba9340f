"""The Jarvis-CD importer's mappings, each a row: a pipeline snippet → what the written spec
holds (read back as YAML, and loaded by Shipyard's own loader), or the note naming what did not
map, or the problem at the Jarvis file's own line and column."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from shipyard.errors import SpecError
from shipyard.formats.importing import import_text
from shipyard.spec.loader import load_spec_text


def imported(text: str, path: Path) -> tuple[dict[str, Any], list[str]]:
    """The written spec as data (checked to load) and every note's line."""
    result = import_text(text, path)
    assert result.format == "jarvis"
    load_spec_text(result.text, path)
    return yaml.safe_load(result.text), [note.line() for note in result.notes]


def dig(data: Any, path: str) -> Any:
    for part in path.split("/"):
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data


IOR = "pkgs:\n  - pkg_type: builtin.ior\n    pkg_name: ior\n"
REDIS = (
    "pkgs:\n"
    "  - {pkg_type: builtin.redis, pkg_name: redis, port: 7001, sleep: 2}\n"
    "  - {pkg_type: builtin.redis-benchmark, pkg_name: bench, port: 7001, count: 10}\n"
)
APPS = (
    "interceptors:\n"
    "  - {pkg_type: example_interceptor, pkg_name: icpt, library_path: /x/lib.so}\n"
    "pkgs:\n"
    "  - {pkg_type: example_app, pkg_name: a}\n"
    "  - {pkg_type: example_app, pkg_name: b, interceptors: [icpt]}\n"
    "  - {pkg_type: example_app, pkg_name: c}\n"
)
GRID = (
    "config:\n"
    "  name: grid\n"
    "  pkgs:\n"
    "    - {pkg_type: builtin.ior, pkg_name: ior, nprocs: 1, ppn: 4, api: posix}\n"
    "vars:\n"
    "  ior.xfer: [1m, 4m]\n"
    "  ior.block: [8m, 16m]\n"
    "  ior.nprocs: [1, 2]\n"
    "  ior.api: [posix, mpiio]\n"
    "loop:\n"
    "  - [ior.xfer, ior.block]\n"
    "  - [ior.nprocs]\n"
    "repeat: 3\n"
    "output: /tmp/results\n"
)


@pytest.mark.parametrize(
    ("text", "path", "expected"),
    [
        ("name: p\n" + IOR, "name", "p"),
        (IOR, "name", "pipe"),  # no name: the file's stem
        (IOR, "steps/ior/run/0", "ior"),
        (
            IOR,
            "steps/ior/run",
            [
                "ior",
                "-k",
                "-b",
                "{{ ior_block }}",
                "-t",
                "{{ ior_xfer }}",
                "-a",
                "{{ ior_api }}",
                "-o",
                "{{ ior_out }}",
                "-w",
            ],
        ),
        (IOR, "parameters/ior_block", {"type": "str", "default": "32m"}),
        (IOR, "parameters/ior_api", {"type": "str", "default": "POSIX"}),  # upper-cased
        (IOR, "steps/ior/mpi", {"nprocs": 1}),
        (IOR + "    nprocs: 8\n    ppn: 4\n", "steps/ior/mpi", {"nprocs": 8, "ppn": 4}),
        (IOR + "    read: true\n    fpp: true\n    write: false\n", "steps/ior/run/-3:", None),
        (IOR + "    timeout: 30\n    retry_count: 2\n", "steps/ior/timeout", "30s"),
        (IOR + "    timeout: 30\n    retry_count: 2\n", "steps/ior/retries", {"count": 2}),
        ("env: {OMP_NUM_THREADS: 4}\n" + IOR, "env", {"OMP_NUM_THREADS": 4}),
        ("env: mods\n" + IOR, "environment", "mods"),
        (REDIS, "services/redis/run", ["redis-server", "--port", "7001", "--save", ""]),
        (REDIS, "services/redis/port", 7001),
        (REDIS, "services/redis/health", {"tcp": True}),
        (REDIS, "services/redis/restart", {"policy": "no"}),
        (REDIS, "steps/bench/needs", ["redis"]),
        (REDIS, "steps/bench/run/-2", "-t"),
        (REDIS, "steps/bench/run/-1", "set,get"),
        (REDIS, "parameters/bench_count", {"type": "int", "default": 10}),
        (APPS, "steps/b/env/LD_PRELOAD", "/x/lib.so"),
        (APPS, "steps/b/env/EXAMPLE_CUSTOM_VAR", "intercepted_value"),
        (APPS, "steps/b/env/EXAMPLE_DEBUG", "1"),
        (APPS, "steps/b/needs", ["a"]),
        (APPS, "steps/c/needs", ["b"]),
        (GRID, "name", "grid"),
        ("name: top\n" + GRID, "name", "top"),
        (
            GRID,
            "sweep/matrix",
            {
                "ior_xfer": ["1m", "4m"],
                "ior_block": ["8m", "16m"],
                "ior_nprocs": [1, 2],
                "ior_api": ["POSIX", "MPIIO"],
            },
        ),
        (GRID, "sweep/zip", [["ior_xfer", "ior_block"]]),
        (GRID, "sweep/repeat", 3),
        (GRID, "steps/ior/run/0:4", ["mpirun", "-np", "{{ ior_nprocs }}", "--oversubscribe"]),
        (GRID, "steps/ior/env/OMPI_ALLOW_RUN_AS_ROOT", "1"),
    ],
)
def test_mapping(text: str, path: str, expected: Any) -> None:
    data, _ = imported(text, Path("/project/pipe.yaml"))
    if path.endswith(":"):  # the flags a true setting adds
        base, _, _ = path.rpartition("/")
        run = dig(data, base)
        assert "-r" in run and "-F" in run and "-w" not in run, run
        return
    if ":" in path.rpartition("/")[2]:
        base, _, span = path.rpartition("/")
        start, end = (int(x) for x in span.split(":"))
        assert dig(data, base)[start:end] == expected
        return
    if path.rpartition("/")[2].startswith("-"):
        base, _, index = path.rpartition("/")
        assert dig(data, base)[int(index)] == expected
        return
    assert dig(data, path) == expected


def test_interceptor_env_only_where_asked() -> None:
    data, _ = imported(APPS, Path("/project/pipe.yaml"))
    assert "env" not in data["steps"]["a"] and "env" not in data["steps"]["c"], data["steps"]


def test_an_interceptor_in_pkgs_applies_to_every_package_after_it() -> None:
    text = (
        "pkgs:\n"
        "  - {pkg_type: example_app, pkg_name: a}\n"
        "  - {pkg_type: example_interceptor, pkg_name: i, library_path: /l.so}\n"
        "  - {pkg_type: example_app, pkg_name: b}\n"
    )
    data, _ = imported(text, Path("/project/pipe.yaml"))
    assert data["steps"]["b"]["env"]["LD_PRELOAD"] == "/l.so"
    assert "env" not in data["steps"]["a"]
    assert data["steps"]["b"]["needs"] == ["a"]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("base_deploy_mode: container\n" + IOR, "base_deploy_mode (line 1): not mapped"),
        ("container_engine: docker\n" + IOR, "container_engine (line 1): not mapped"),
        ("mpi_cmd: mpiexec\n" + IOR, "mpi_cmd (line 1): not mapped"),
        ("colour: blue\n" + IOR, "colour (line 1): not mapped"),
        (IOR + "    log: /tmp/l\n", "pkgs[0].log (line 4): not mapped"),
        (IOR + "    install_method: spack\n", "pkgs[0].install_method (line 4): not mapped"),
        (IOR + "    do_dbg: true\n", "pkgs[0].do_dbg (line 4): not mapped"),
        (IOR + "    deploy_mode: container\n", "pkgs[0].deploy_mode (line 4): not mapped"),
        (
            IOR + "    bogus: 1\n",
            "pkgs[0].bogus (line 4): not mapped: not a setting of builtin.ior",
        ),
        (IOR + "    out: ${HOME}/x\n", "pkgs[0].out (line 4): '${HOME}/x' expanded when imported"),
        (IOR, "no hostfile: Jarvis uses its global one"),
        (REDIS, "pkgs[0].sleep (line 2): the wait after the start"),
        (GRID, "output (line 14): not mapped"),
        (GRID, "config.pkgs[0].ppn (line 4): not mapped: with a swept nprocs"),
        (
            "scheduler: {name: slurm, job_name: j, output: o.txt, nodes: 1}\n" + IOR,
            "scheduler.job_name (line 1): not mapped",
        ),
    ],
)
def test_named_never_dropped(text: str, words: str) -> None:
    _, notes = imported(text, Path("/project/pipe.yaml"))
    assert any(words in note for note in notes), notes


def test_slurm_scheduler() -> None:
    text = (
        "scheduler:\n  name: slurm\n  nodes: 2\n  ntasks_per_node: 4\n  partition: cpu\n"
        "  time: '00:30:00'\n  sbatch_args: [--constraint=scratch]\n" + IOR + "    nprocs: 8\n"
    )
    data, _ = imported(text, Path("/project/pipe.yaml"))
    assert data["slurm"] == {
        "mode": "job",
        "partition": "cpu",
        "time": "00:30:00",
        "nodes": 2,
        "ntasks": 8,
        "extra": ["--ntasks-per-node=4", "--constraint=scratch"],
    }
    assert data["steps"]["ior"]["runner"] == "slurm"
    assert data["steps"]["ior"]["mpi"] == {"nprocs": 8}


def test_a_suite_runs_its_experiments_in_order_with_the_first_sweep() -> None:
    text = (
        "name: suite\n"
        "experiments:\n"
        "  - config: {name: one, pkgs: [{pkg_type: example_app, pkg_name: app}]}\n"
        "    vars: {app.message: [a, b]}\n"
        "  - config: {name: two, pkgs: [{pkg_type: example_app, pkg_name: app}]}\n"
        "    vars: {app.message: [c, d]}\n"
    )
    data, notes = imported(text, Path("/project/pipe.yaml"))
    assert set(data["steps"]) == {"one-app", "two-app"}
    assert data["steps"]["two-app"]["needs"] == ["one-app"]
    assert data["sweep"]["matrix"] == {"one_app_message": ["a", "b"]}
    assert any(
        "experiments[1].vars (line 6): not mapped" in n and "-m two_app_message=c,d" in n
        for n in notes
    ), notes


def test_declared_packages_beside_the_file(tmp_path: Path) -> None:
    (tmp_path / "jarvis-packages.yaml").write_text(
        "mytool:\n"
        "  run: [mytool, --size, '{size}']\n"
        "  settings: {size: 1m, verbose: false}\n"
        "  flags: {verbose: [-v]}\n"
        "ior:\n"
        "  run: [echo, ior, '{block}']\n"
        "  settings: {block: 4m, nprocs: 1}\n"
        "  mpi: true\n"
    )
    text = (
        "pkgs:\n"
        "  - {pkg_type: myrepo.mytool, pkg_name: t, verbose: true, size: 2m}\n"
        "  - {pkg_type: builtin.ior, pkg_name: ior, nprocs: 2}\n"
    )
    data, _ = imported(text, tmp_path / "pipe.yaml")
    assert data["steps"]["t"]["run"] == ["mytool", "--size", "{{ t_size }}", "-v"]
    assert data["parameters"]["t_size"] == {"type": "str", "default": "2m"}
    assert data["steps"]["ior"]["run"] == ["echo", "ior", "{{ ior_block }}"]  # replaces builtin
    assert data["steps"]["ior"]["mpi"] == {"nprocs": 2}


def problems(text: str, path: Path = Path("/project/pipe.yaml")) -> list[str]:
    with pytest.raises(SpecError) as caught:
        import_text(text, path)
    return [
        f"{p.location.line}:{p.location.column}: {p.message}" + (f" [{p.hint}]" if p.hint else "")
        if p.location
        else p.message
        for p in caught.value.problems
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "pkgs:\n  - pkg_type: builtin.hermes\n",
            "2:5: package type 'builtin.hermes' has no Shipyard template",
        ),
        (
            "pkgs:\n  - pkg_type: builtin.hermes\n",
            "[declare it in jarvis-packages.yaml beside this file: `builtin.hermes: {run: "
            '[PROGRAM, --opt, "{setting}"], settings: {setting: DEFAULT}}` (docs/importing.md',
        ),
        ("pkgs:\n  - pkg_type: builtin.iorr\n", "did you mean 'ior'?"),
        ("pkgs:\n  - pkg_name: x\n", "2:5: this package has no pkg_type"),
        (
            "pkgs:\n  - {pkg_type: example_app, pkg_name: a}\n"
            "  - {pkg_type: example_app, pkg_name: a}\n",
            "3:29: two packages are named 'a'",
        ),
        (
            "pkgs:\n  - {pkg_type: example_app, pkg_name: a, interceptors: [icp]}\n",
            "2:57: 'icp' is not an interceptor of this pipeline",
        ),
        (
            "pkgs:\n  - {pkg_type: builtin.redis, port: 99999}\n",
            "2:31: port 99999 should be a port number",
        ),
        (
            "scheduler: {name: pbs}\n" + IOR,
            "1:13: scheduler 'pbs' has no Shipyard runner",
        ),
        (
            "config: {pkgs: [{pkg_type: example_app, pkg_name: app}]}\nvars:\n  apq.message: [a]\n",
            "3:3: var 'apq.message': 'apq' is not a package of this pipeline [did you mean 'app'?]",
        ),
        (
            "config: {pkgs: [{pkg_type: builtin.ior, pkg_name: ior}]}\nvars:\n  ior.read: [true]\n",
            "3:3: var 'ior.read' cannot be swept: a true/false setting",
        ),
        (
            "config: {pkgs: [{pkg_type: builtin.ior, pkg_name: ior}]}\n"
            "vars: {ior.xfer: [1m, 2m], ior.block: [1m]}\nloop: [[ior.xfer, ior.block]]\n",
            "3:8: vars in one loop group move together: their lists must be of one length",
        ),
        (
            "config: {pkgs: [{pkg_type: builtin.ior, pkg_name: ior}]}\nvars: {ior.xfer: [1m]}\n"
            "repeat: 0\n",
            "3:1: repeat 0 should be 1 to 1000",
        ),
    ],
)
def test_problems_at_the_files_own_line(text: str, expected: str) -> None:
    found = problems(text)
    assert any(expected in p for p in found), found


def test_a_bad_declaration_is_reported_in_its_own_file(tmp_path: Path) -> None:
    (tmp_path / "jarvis-packages.yaml").write_text("mytool:\n  runn: [x]\n  settings: {a: 1}\n")
    with pytest.raises(SpecError) as caught:
        import_text("pkgs:\n  - pkg_type: mytool\n", tmp_path / "pipe.yaml")
    said = [
        (p.location.path if p.location else None, p.message, p.hint) for p in caught.value.problems
    ]
    assert (tmp_path / "jarvis-packages.yaml", "'runn' is not a key of a package template",
            "did you mean 'run'?") in said, said  # fmt: skip
    assert any("has no run" in message for _, message, _ in said), said


def test_hostfile_is_the_specs_hosts(tmp_path: Path) -> None:
    (tmp_path / "hosts.txt").write_text("node[01-02]\n")
    data, _ = imported("hostfile: hosts.txt\n" + IOR + "    nprocs: 4\n", tmp_path / "pipe.yaml")
    assert data["hosts"] == "hosts.txt"
    assert data["steps"]["ior"]["mpi"] == {"nprocs": 4}


def test_a_missing_hostfile_is_reported_at_the_hostfile_key(tmp_path: Path) -> None:
    found = problems("name: x\nhostfile: nowhere.txt\n" + IOR, tmp_path / "pipe.yaml")
    assert any(p.startswith("2:1: hostfile 'nowhere.txt' cannot be read") for p in found), found
