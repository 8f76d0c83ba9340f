#!/usr/bin/env bash
# Set up everything Shipyard needs on a fresh machine: a virtualenv in .venv with the locked
# dependencies, Shipyard installed in it (editable), and the system tools the examples use.
# Safe to run again: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      PYTHON="$candidate"
      break
    fi
  done
fi
if [ -z "$PYTHON" ]; then
  echo "setup: Shipyard needs Python 3.11 or newer; install it or set PYTHON=/path/to/python3" >&2
  exit 1
fi

# fio drives examples/io-benchmark.yaml; psutil needs nothing extra.
if ! command -v fio >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing fio (apt-get)"
    apt-get update -qq >/dev/null && apt-get install -y -qq fio >/dev/null
  else
    echo "setup: fio is missing; examples/io-benchmark.yaml needs it (apt-get install fio)" >&2
  fi
fi

# PostgreSQL's server binaries: the coordinator's tests start a throwaway cluster with them
# (tests/postgres.py); no server is left running.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing postgresql (apt-get; only its binaries are used)"
    apt-get update -qq >/dev/null && apt-get install -y -qq postgresql >/dev/null
  else
    echo "setup: PostgreSQL is missing; the coordinator's tests need it (apt-get install postgresql)" >&2
  fi
fi

# redis-server: bench/tasks.py (and its smoke test) runs Celery beside the coordinator on a
# throwaway Redis it starts itself on 127.0.0.1; no server is left running.
if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing redis-server (apt-get; only its binary is used)"
    apt-get update -qq >/dev/null && apt-get install -y -qq redis-server >/dev/null
  else
    echo "setup: redis-server is missing; bench/tasks.py needs it (apt-get install redis-server)" >&2
  fi
fi

# The HPC runners' real components (issue 16): OpenSSH's server (tests start a throwaway sshd on
# 127.0.0.1), Open MPI, and a single-node Slurm with munge (tests start their own slurmctld,
# slurmd and munged from a generated config). Only the binaries are used: any service the
# packages start is stopped again, and nothing is left running.
hpc_missing=""
[ -x /usr/sbin/sshd ] || hpc_missing="$hpc_missing openssh-server"
command -v mpirun >/dev/null 2>&1 || hpc_missing="$hpc_missing openmpi-bin"
command -v mpicc >/dev/null 2>&1 || hpc_missing="$hpc_missing libopenmpi-dev"
command -v slurmctld >/dev/null 2>&1 || hpc_missing="$hpc_missing slurm-wlm"
command -v munged >/dev/null 2>&1 || hpc_missing="$hpc_missing munge"
if [ -n "$hpc_missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing$hpc_missing (apt-get; only their binaries are used)"
    # shellcheck disable=SC2086
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq $hpc_missing >/dev/null
    for service in ssh munge slurmctld slurmd; do
      if command -v service >/dev/null 2>&1; then service "$service" stop >/dev/null 2>&1 || true; fi
    done
  else
    echo "setup: missing$hpc_missing; the ssh, MPI and Slurm runners' tests need them" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.shipyard-lock
if [ ! -f "$stamp" ] || ! cmp -s requirements.lock "$stamp"; then
  echo "setup: installing locked dependencies"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
  cp requirements.lock "$stamp"
fi
if ! .venv/bin/python -c 'import shipyard' >/dev/null 2>&1; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
fi
# Byte-compile Shipyard itself: an editable install gets no .pyc files, and where
# PYTHONDONTWRITEBYTECODE is set every command would otherwise recompile it (~30 ms a start).
.venv/bin/python -m compileall -q src/shipyard >/dev/null
echo "setup: ready ($(.venv/bin/shipyard --version))"
