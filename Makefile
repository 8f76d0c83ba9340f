# The commands of the README: `make demo`, `make cluster-demo`, `make suites-demo`, `make ml-demo`, `make hpc-demo`, `make test-all` (the whole suite; CI) and `make test` (everyday). Each sets itself up first.
.PHONY: setup demo cluster-demo suites-demo ml-demo hpc-demo demo-hpc test test-slow test-all test-wire test-server lint typecheck unit bench bench-peers bench-suites lock clean

VENV := .venv/bin

setup:
	@bash scripts/setup.sh

demo: setup
	$(VENV)/shipyard validate examples/quickstart.yaml
	$(VENV)/shipyard plan examples/quickstart.yaml
	$(VENV)/shipyard run examples/quickstart.yaml
	$(VENV)/shipyard status
	$(VENV)/shipyard logs $$($(VENV)/shipyard list --json --limit 1 | $(VENV)/python -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])') report

# The coordinator end to end, then nothing left: a throwaway PostgreSQL, `shipyard serve --db`,
# two `shipyard worker`s, 1,000 tasks, their results; everything stopped and removed, also on
# Ctrl-C (scripts/cluster_demo.py; TASKS=50 for fewer).
TASKS ?= 1000
cluster-demo: setup
	$(VENV)/python scripts/cluster_demo.py --tasks $(TASKS)

# A task suite on two node managers: Open -> Closed -> Complete (docs/suites.md).
suites-demo: setup
	$(VENV)/python scripts/suites_demo.py

# The ML example end to end (examples/ml/run.sh; docs/ml.md "The whole example"): digits →
# train → gated evaluate → registry → served behind a canary rollout that is promoted; then a
# bad model gated, approved by hand, and rolled back on its measured error rate (~2-3 min).
ml-demo: setup
	bash examples/ml/run.sh all

# One fio spec run on this machine, over SSH on two hosts, and as Slurm jobs, changing only
# `runner:` (docs/hpc.md): a throwaway sshd and single-node Slurm, stopped at the end (as root).
hpc-demo: setup
	$(VENV)/python scripts/hpc_demo.py

demo-hpc: hpc-demo  # the name issue 16 asked for

lint: setup
	$(VENV)/ruff check src tests bench scripts
	$(VENV)/ruff format --check src tests bench scripts

typecheck: setup
	$(VENV)/mypy

# A second run with every operation crossing JSON text both ways (SHIPYARD_WIRE_CHECK=1,
# docs/cli.md): what cannot make the trip is a bug of the protocol. The whole of both suites
# takes ~5 min more on 2 shared cores, so: every acceptance test (the CLI, through the wire) and
# the integration tests that call each part of the protocol; `make test-wire` runs all of them.
# The acceptance files the server pass below runs are left out here: through a server every
# operation crosses the same JSON (RemoteOperations speaks the wire form), over real HTTP.
# The coordinator's client and its demo call no operation of the protocol (they speak the
# coordinator's routes), so a second pass would run them unchanged: left out too.
NOT_THE_PROTOCOL := tests/acceptance/test_tasks_cli.py tests/acceptance/test_cluster_demo.py \
	tests/acceptance/test_suite_cli.py tests/acceptance/test_suites_demo.py
# The ML example's story (2-4 min) runs commands each of which the wire pass runs through
# test_ml_cli, test_artifacts_cli and test_rollout_cli: once is enough.
# The HPC demo runs `shipyard run` three times, each of which test_ssh_cli, test_slurm_cli and
# the local acceptance tests run through the wire pass already.
COVERED_ELSEWHERE := tests/acceptance/test_ml_example.py tests/acceptance/test_hpc_demo.py
WIRE_SUBSET = $(filter-out $(SERVER_SUBSET) $(NOT_THE_PROTOCOL) $(COVERED_ELSEWHERE),\
	$(wildcard tests/acceptance/test_*.py)) \
	$(addprefix tests/integration/test_,$(addsuffix .py,\
	operations_api lifecycle control fleet agents checkpoints resume clean secrets \
	logs_bounded machine_faults mixed))

# A third run with every command of the CLI going through a real `shipyard serve` of its test's
# home (SHIPYARD_SERVER_CHECK=1, docs/server.md): the same commands and output against a
# server. The whole acceptance suite so took 9 min 20 s on 2 shared cores, so `make test-slow` runs
# the files that cover each kind of command (run, live display, detach/follow/stop/resume/clean,
# fleets, logs, pipelines, stop grace: 2 min 10 s); `make test-server` runs all of them.
SERVER_SUBSET := $(addprefix tests/acceptance/test_,$(addsuffix .py,\
	cli lifecycle_cli fleet_cli logs_cli pipelines_cli stop_grace_cli))

# The suites run in 3 processes (pytest-xdist), a file to a process so that a module's fixtures
# (a served coordinator, 2 x 40 MB of logs) are made once: most tests wait on the processes they
# start, so 3 keep 2 cores busy. Measured on 2 cores: docs/performance.md ("The test suite").
PARALLEL := -n 3 --dist loadfile

# The everyday command: lint, types and every test not marked `slow` (7 min 14 s on 2 cores, load
# 2-3; test-slow 16 min; docs/performance.md "The test suite").
# The slow ones (a served coordinator on PostgreSQL with real workers and managers, Open MPI
# ranks, Slurm jobs, the demos: 3-4 min of the 3 processes' time each) and the two passes below
# are `make test-slow`; `make test-all` is both, the whole suite, and what CI runs (.ci/run).
test: lint typecheck
	$(VENV)/pytest $(PARALLEL) -m "not slow"

test-slow: setup
	$(VENV)/pytest $(PARALLEL) -m slow
	SHIPYARD_WIRE_CHECK=1 $(VENV)/pytest -q $(PARALLEL) $(WIRE_SUBSET)
	SHIPYARD_SERVER_CHECK=1 $(VENV)/pytest -q $(PARALLEL) $(SERVER_SUBSET)

test-all: test test-slow

test-server: setup
	SHIPYARD_SERVER_CHECK=1 $(VENV)/pytest -q $(PARALLEL) tests/acceptance

test-wire: setup
	SHIPYARD_WIRE_CHECK=1 $(VENV)/pytest -q $(PARALLEL) tests/integration tests/acceptance

bench: setup
	$(VENV)/python bench/fanout.py

# Shipyard, doit, Snakemake and xargs round-robin in one run, then again with one core busy
# (~10 min on 2 cores; docs/performance.md).
bench-peers: setup
	$(VENV)/python bench/peers.py --rounds 7 --busy

# A suite through 2 node managers beside 2 independent workers, round-robin (~3-4 min on 2
# cores; SUITE_TASKS=100000 for the issue's size; docs/performance.md "Task suites through node
# managers").
SUITE_TASKS ?= 5000
bench-suites: setup
	$(VENV)/python -m compileall -q src
	$(VENV)/python bench/suites.py --tasks $(SUITE_TASKS)

lock:
	rm -rf /tmp/shipyard-lock-venv && python3 -m venv /tmp/shipyard-lock-venv
	/tmp/shipyard-lock-venv/bin/pip install --quiet -e '.[dev,examples,bench]'
	/tmp/shipyard-lock-venv/bin/pip freeze --exclude-editable | grep -v '^-e' > requirements.lock.new
	{ head -2 requirements.lock; cat requirements.lock.new; } > requirements.lock.tmp && mv requirements.lock.tmp requirements.lock && rm requirements.lock.new

clean:
	rm -rf .venv .shipyard .pytest_cache .mypy_cache .ruff_cache
