"""Real Jarvis-CD pipelines (tests/fixtures/seed-formats/jarvis-cd, copied byte for byte from
upstream) through the installed CLI: each validates and plans as it is, `shipyard import` writes
a spec that validates and names what it could not map, the ones whose packages exist here run
(the interceptor pipeline, the grid-search sweep, Redis with redis-benchmark), ior — not
installed here — fails with mpirun's own "unable to find ior", and runs once a
jarvis-packages.yaml beside the file declares it as a tiny real command."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest

from tests import slurm
from tests.acceptance.conftest import Shipyard
from tests.conftest import missing_component
from tests.slurm import SlurmCluster

FIXTURES = Path(__file__).parents[1] / "fixtures" / "seed-formats" / "jarvis-cd"
FILES = sorted(FIXTURES.glob("*.yaml"))


def test_every_upstream_file_is_here() -> None:
    assert len(FILES) == 6, f"the six upstream files are expected in {FIXTURES}: {FILES}"
    assert not (FIXTURES / "jarvis-packages.yaml").exists(), "the builtin templates are tested"


@pytest.mark.parametrize("file", FILES, ids=lambda p: p.name)
def test_validates_and_plans_as_it_is(shipyard: Shipyard, file: Path) -> None:
    checked = shipyard("validate", str(file), "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    report = json.loads(checked.stdout)
    assert report["valid"], report
    assert report["steps"] + report["services"] >= 1, report
    assert f"note: {file} is a Jarvis-CD pipeline file" in checked.stderr, checked.stderr
    plan = shipyard("plan", str(file), "--json")
    assert plan.returncode == 0, plan.stderr
    planned = json.loads(plan.stdout)
    units = {s["name"] for s in planned.get("steps", [])} | {
        s["name"] for s in planned.get("services", [])
    }
    assert units, plan.stdout


#: Keys of the files that have no Shipyard equivalent: each must be named by the import.
UNMAPPED = ("base_deploy_mode", "container_engine", "container_base", "container_binds", "output")


@pytest.mark.parametrize("file", FILES, ids=lambda p: p.name)
def test_import_writes_a_spec_that_validates(
    shipyard: Shipyard, file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out" / "spec.yaml"
    out.parent.mkdir()
    done = shipyard("import", str(file), "-o", str(out), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["format"] == "jarvis"
    text = out.read_text()
    assert text == result["spec"]
    assert "# pkgs: " in text and "'s command" in text, "each mapping is commented"
    checked = shipyard("validate", str(out))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    named = {w["key"].rsplit(".", 1)[-1] for w in result["warnings"]}
    source = file.read_text()
    for key in UNMAPPED:
        if f"\n{key}:" in source or f" {key}:" in source:
            assert key in named, f"{key} of {file.name} is not named in {result['warnings']}"


def test_the_mappings_of_the_hpc_and_sweep_files(shipyard: Shipyard) -> None:
    def spec(name: str) -> str:
        done = shipyard("import", str(FIXTURES / name))
        assert done.returncode == 0, done.stderr
        return done.stdout

    multi = spec("ior_multi_node.yaml")
    assert "mpi: {nprocs: 4, ppn: 2}" in multi, multi
    slurm = spec("ior_slurm_submit.yaml")
    assert "runner: slurm" in slurm and "mode: job" in slurm, slurm
    assert "partition: cpu" in slurm and "ntasks: 8" in slurm, slurm
    grid = spec("test_grid_search.yaml")
    assert 'app_message: ["Hello World", "Test Message", "Final Message"]' in grid, grid
    assert "repeat: 2" in grid, grid
    suite = spec("storage_sweep_test.yaml")
    assert 'ior_sweep_ior_xfer: ["256k", "1m", "4m"]' in suite, suite
    assert "ior_sweep_ior_nprocs: [1, 2, 4]" in suite, suite


def test_the_interceptor_pipeline_runs_with_ld_preload_where_asked(
    shipyard: Shipyard, tmp_path: Path
) -> None:
    file = tmp_path / "test_interceptor.yaml"
    shutil.copy(FIXTURES / "test_interceptor.yaml", file)
    ran = shipyard("run", str(file), "--json", timeout=120)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    status = json.loads(ran.stdout)
    assert status["state"] == "succeeded", status
    units = {u["name"]: u for u in status["units"]}
    assert units["example_app1"]["ended_at"] <= units["example_app2"]["started_at"], units
    assert units["example_app2"]["ended_at"] <= units["example_app3"]["started_at"], units
    second = shipyard("logs", status["id"], "example_app2").stdout
    assert "LD_PRELOAD: /usr/lib/example_interceptor.so" in second, second
    first = shipyard("logs", status["id"], "example_app1").stdout
    assert "LD_PRELOAD: None" in first, first
    assert (tmp_path / "app2_output.txt").read_text() == "Second app with interceptor\n"


def test_the_grid_search_is_a_sweep(shipyard: Shipyard, tmp_path: Path) -> None:
    file = tmp_path / "test_grid_search.yaml"
    shutil.copy(FIXTURES / "test_grid_search.yaml", file)
    swept = shipyard("sweep", str(file), "--json", timeout=300)
    assert swept.returncode == 0, swept.stdout + swept.stderr
    report = json.loads(swept.stdout)
    assert report["state"] == "succeeded", report
    points = [(p["parameters"]["app_message"], p["state"]) for p in report["points"]]
    assert len(points) == 6, points  # 3 messages x repeat 2
    assert {m for m, _ in points} == {"Hello World", "Test Message", "Final Message"}, points
    assert {s for _, s in points} == {"succeeded"}, points


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_redis_and_its_benchmark_run(shipyard: Shipyard, tmp_path: Path) -> None:
    for program in ("redis-server", "redis-benchmark"):
        if shutil.which(program) is None:
            missing_component(f"{program} is not installed (apt-get install redis-server)")
    # The upstream file with a free port and fewer requests: the same keys, a quicker run.
    port = _free_port()
    text = (FIXTURES / "redis_container_test.yaml").read_text()
    file = tmp_path / "redis.yaml"
    file.write_text(text.replace("6379", str(port)).replace("count: 100000", "count: 2000"))
    ran = shipyard("run", str(file), "--json", timeout=120)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    status = json.loads(ran.stdout)
    assert status["state"] == "succeeded", status
    units = {u["name"]: u for u in status["units"]}
    assert units["redis"]["started_at"] <= units["redis_bench"]["started_at"], units
    bench = shipyard("logs", status["id"], "redis_bench").stdout
    assert "SET" in bench and "GET" in bench, bench


def test_ior_not_installed_is_said_at_run(shipyard: Shipyard, tmp_path: Path) -> None:
    if shutil.which("mpirun") is None:
        missing_component("mpirun is not installed (apt-get install openmpi-bin)")
    file = tmp_path / "ior_multi_node.yaml"
    shutil.copy(FIXTURES / "ior_multi_node.yaml", file)
    ran = shipyard("run", str(file), "--json", timeout=120)
    status = json.loads(ran.stdout)
    if shutil.which("ior") is not None:  # a machine with ior: it runs for real
        assert status["state"] == "succeeded", status
        return
    assert ran.returncode != 0 and status["state"] == "failed", status
    log = shipyard("logs", status["id"], "ior").stdout
    assert "unable to find the specified executable" in log and "Executable: ior" in log, log


def test_a_declared_package_replaces_the_builtin_one(shipyard: Shipyard, tmp_path: Path) -> None:
    """jarvis-packages.yaml beside the pipeline declares `ior` as a tiny real command taking
    the same settings: the pipeline runs under mpirun, 4 ranks, as its mpi: says."""
    if shutil.which("mpirun") is None:
        missing_component("mpirun is not installed (apt-get install openmpi-bin)")
    file = tmp_path / "ior_multi_node.yaml"
    shutil.copy(FIXTURES / "ior_multi_node.yaml", file)
    (tmp_path / "jarvis-packages.yaml").write_text(
        "ior:\n"
        "  run: [sh, -c, 'echo \"ior rank $OMPI_COMM_WORLD_RANK: $*\"', ior,\n"
        "        -b, '{block}', -t, '{xfer}', -o, '{out}']\n"
        "  settings: {block: 32m, xfer: 1m, out: /tmp/ior.bin, nprocs: 1, ppn: 16,\n"
        "             write: true, read: false}\n"
        "  flags: {write: [-w], read: [-r]}\n"
        "  mpi: true\n"
    )
    ran = shipyard("run", str(file), "--json", timeout=120)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    status = json.loads(ran.stdout)
    log = shipyard("logs", status["id"], "ior").stdout
    ranks = sorted(line for line in log.splitlines() if line.startswith("ior rank"))
    assert len(ranks) == 4, log
    assert ranks[0] == "ior rank 0: -b 1G -t 1M -o /tmp/ior_multi_file -w -r", ranks
    imported = json.loads(shipyard("import", str(file), "--json").stdout)
    named = {w["key"] for w in imported["warnings"]}
    # the declared template reads neither api nor reps: named, not dropped
    assert {"pkgs[0].api", "pkgs[0].reps", "pkgs[0].fpp"} <= named, named


def test_a_broken_pipeline_is_reported_at_its_own_line(shipyard: Shipyard, tmp_path: Path) -> None:
    broken = tmp_path / "pipeline.yaml"
    broken.write_text(
        "name: broken\n"
        "pkgs:\n"
        "  - pkg_type: builtin.hermes_run\n"
        "    pkg_name: hermes\n"
        "  - pkg_type: builtin.ior\n"
        "    interceptors: [hermes_api]\n"
    )
    for command, code in (("validate", 1), ("import", 2), ("run", 2)):
        done = shipyard(command, str(broken))
        said = done.stdout + done.stderr
        assert done.returncode == code, said
        assert f"{broken}:3:5:" in said and "'builtin.hermes_run' has no Shipyard template" in said
        assert "jarvis-packages.yaml" in said, said  # how to declare it
        assert f"{broken}:6:20:" in said and "'hermes_api' is not an interceptor" in said, said
        assert "Traceback" not in said


def test_a_swept_nprocs_runs_that_many_ranks(shipyard: Shipyard, tmp_path: Path) -> None:
    """vars: {ior.nprocs: [1, 3]}: nprocs cannot be mpi.nprocs (a number), so the step runs
    mpirun -np {{ ior_nprocs }} itself; each point of the sweep runs that many ranks."""
    if shutil.which("mpirun") is None:
        missing_component("mpirun is not installed (apt-get install openmpi-bin)")
    (tmp_path / "jarvis-packages.yaml").write_text(
        "ior:\n"
        "  run: [sh, -c, 'echo \"rank of $OMPI_COMM_WORLD_SIZE: $*\"', ior, -t, '{xfer}']\n"
        "  settings: {xfer: 1m, nprocs: 1}\n"
        "  mpi: true\n"
    )
    file = tmp_path / "grid.yaml"
    file.write_text(
        "config:\n"
        "  name: ranks\n"
        "  pkgs:\n"
        "    - {pkg_type: builtin.ior, pkg_name: ior, nprocs: 1, xfer: 4k}\n"
        "vars:\n"
        "  ior.nprocs: [1, 3]\n"
    )
    swept = shipyard("sweep", str(file), "--json", timeout=300)
    assert swept.returncode == 0, swept.stdout + swept.stderr
    points = json.loads(swept.stdout)["points"]
    assert [p["parameters"]["ior_nprocs"] for p in points] == [1, 3], points
    for point in points:
        log = shipyard("logs", point["execution_id"], "ior").stdout
        ranks = [line for line in log.splitlines() if line.startswith("rank of")]
        nprocs = point["parameters"]["ior_nprocs"]
        assert ranks == [f"rank of {nprocs}: -t 4k"] * nprocs, log


slurm_cluster = slurm.slurm_cluster
slurm_env = slurm.slurm_env


@pytest.mark.local_only("the cluster's SLURM_CONF reaches the engine through the environment")
def test_the_slurm_pipeline_runs_as_a_job(
    shipyard: Shipyard, slurm_env: SlurmCluster, tmp_path: Path
) -> None:
    """ior_slurm_submit.yaml on the single-node test cluster (its partition, one node, two
    tasks: the keys changed, none added) with ior declared as a tiny command: the step is a
    Slurm job whose batch script runs one mpirun, starting its ranks in the job."""
    text = (FIXTURES / "ior_slurm_submit.yaml").read_text()
    for old, new in (
        ("partition: cpu", f"partition: {slurm_env.partition}"),
        ("nodes: 2", "nodes: 1"),
        ("ntasks_per_node: 4", "ntasks_per_node: 2"),
        ("nprocs: 8", "nprocs: 2"),
        ("ppn: 4", "ppn: 2"),
    ):
        assert old in text, old
        text = text.replace(old, new)
    file = tmp_path / "ior_slurm_submit.yaml"
    file.write_text(text)
    (tmp_path / "jarvis-packages.yaml").write_text(
        "ior:\n"
        "  run: [sh, -c, 'echo \"rank $OMPI_COMM_WORLD_RANK in job $SLURM_JOB_ID: $*\"', ior,\n"
        "        -b, '{block}']\n"
        "  settings: {block: 32m, nprocs: 1, ppn: 16}\n"
        "  mpi: true\n"
    )
    ran = shipyard("run", str(file), "--json", timeout=300)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    status = json.loads(ran.stdout)
    log = shipyard("logs", status["id"], "ior_slurm").stdout
    ranks = sorted(line for line in log.splitlines() if line.startswith("rank "))
    assert len(ranks) == 2 and all(" in job " in r and r.endswith(": -b 1G") for r in ranks), log
