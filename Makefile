# The two commands of the README: `make demo` and `make test`. Both set themselves up first.
.PHONY: setup demo test test-wire lint typecheck unit bench bench-peers lock clean

VENV := .venv/bin

setup:
	@bash scripts/setup.sh

demo: setup
	$(VENV)/shipyard validate examples/quickstart.yaml
	$(VENV)/shipyard plan examples/quickstart.yaml
	$(VENV)/shipyard run examples/quickstart.yaml
	$(VENV)/shipyard status
	$(VENV)/shipyard logs $$($(VENV)/shipyard list --json --limit 1 | $(VENV)/python -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])') report

lint: setup
	$(VENV)/ruff check src tests bench
	$(VENV)/ruff format --check src tests bench

typecheck: setup
	$(VENV)/mypy

# A second run with every operation crossing JSON text both ways (SHIPYARD_WIRE_CHECK=1,
# docs/cli.md): what cannot make the trip is a bug of the protocol. The whole of both suites
# takes ~5 min more on 2 shared cores, so: every acceptance test (the CLI, through the wire) and
# the integration tests that call each part of the protocol; `make test-wire` runs all of them.
WIRE_SUBSET := tests/acceptance $(addprefix tests/integration/test_,$(addsuffix .py,\
	operations_api lifecycle control fleet agents checkpoints resume clean secrets \
	logs_bounded machine_faults mixed))

test: lint typecheck
	$(VENV)/pytest
	SHIPYARD_WIRE_CHECK=1 $(VENV)/pytest -q $(WIRE_SUBSET)

test-wire: setup
	SHIPYARD_WIRE_CHECK=1 $(VENV)/pytest -q tests/integration tests/acceptance

bench: setup
	$(VENV)/python bench/fanout.py

# Shipyard, doit, Snakemake and xargs round-robin in one run, then again with one core busy
# (~10 min on 2 cores; docs/performance.md).
bench-peers: setup
	$(VENV)/python bench/peers.py --rounds 7 --busy

lock:
	rm -rf /tmp/shipyard-lock-venv && python3 -m venv /tmp/shipyard-lock-venv
	/tmp/shipyard-lock-venv/bin/pip install --quiet -e '.[dev,examples,bench]'
	/tmp/shipyard-lock-venv/bin/pip freeze --exclude-editable | grep -v '^-e' > requirements.lock.new
	{ head -2 requirements.lock; cat requirements.lock.new; } > requirements.lock.tmp && mv requirements.lock.tmp requirements.lock && rm requirements.lock.new

clean:
	rm -rf .venv .shipyard .pytest_cache .mypy_cache .ruff_cache
