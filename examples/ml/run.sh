#!/usr/bin/env bash
# The end-to-end ML example (issue 15 §6; docs/ml.md, "The whole example"), told step by step:
#
#   examples/ml/run.sh good   # train → evaluate (gated) → register → serve v1 → canary v2 → promote
#   examples/ml/run.sh bad    # serve v1; a bad model is gated, approved by hand, canaried → rolled back
#   examples/ml/run.sh        # both (make ml-demo)
#
# It works in a fresh Shipyard home of its own (printed at the end, kept for a look), or in
# $SHIPYARD_HOME when set; the fleet it brings up is brought down when it ends, also on Ctrl-C.
# The load it sends goes only to the service on 127.0.0.1, and stops by itself.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# the steps and the service run `python` and `shipyard`: the project's, with scikit-learn
if [ -x "$ROOT/.venv/bin/shipyard" ]; then
  export PATH="$ROOT/.venv/bin:$PATH"
fi
export SHIPYARD_HOME="${SHIPYARD_HOME:-$(mktemp -d "${TMPDIR:-/tmp}/shipyard-ml.XXXXXX")}"
export NO_COLOR=1
cd "$HERE"
what=${1:-all}
case "$what" in good | bad | all) ;; *) echo "usage: $0 [good|bad|all]" >&2; exit 2 ;; esac

say() { printf '\n== %s\n' "$*"; }
# shipyard's own commands, echoed as a person would type them
sy() {
  printf '$ shipyard %s\n' "$*"
  shipyard "$@"
}
json() { python -c "import json, sys; print(eval(sys.argv[1], {'d': json.load(sys.stdin)}))" "$1"; }
latest_execution() { shipyard list --json --limit 1 | json 'd[0]["id"]'; }
latest_version() { shipyard models show digits --json | json 'd["latest"]'; }

fleet=""
bring_down() {
  if [ -n "$fleet" ]; then
    say "bring the fleet down"
    sy down "$fleet" >/dev/null || true
    echo "fleet $fleet down"
  fi
  echo "Shipyard home: $SHIPYARD_HOME"
}
trap bring_down EXIT

# A canary of VERSION, started with --wait, while load.py sends traffic until it has ended.
# Prints the rollout's status; returns what `rollout start --wait` returned (0: promoted).
canary() {
  local version=$1 pid rc=0
  printf '$ shipyard rollout start %s model-api -e MODEL_VERSION=%s --wait &\n' "$fleet" "$version"
  shipyard rollout start "$fleet" model-api -e "MODEL_VERSION=$version" --wait >/dev/null &
  pid=$!
  printf '$ python load.py %s --while-pid %s\n' "$url" "$pid"
  python load.py "$url" --while-pid "$pid" --seconds "${LOAD_SECONDS:-120}"
  if kill -0 "$pid" 2>/dev/null; then
    echo "the load's time is up and the rollout still runs: aborting it"
    sy rollout abort "$fleet" model-api >/dev/null || true
  fi
  wait "$pid" || rc=$?
  sy rollout status "$fleet" model-api
  return "$rc"
}

say "1. train a model, evaluate it (gated), register it"
sy run digits.yaml
v1=$(latest_version)
sy models promote digits --to "$v1"

say "2. serve version $v1 (the fleet's MODEL_VERSION), behind Shipyard's measuring proxy"
printf '$ shipyard up serve.yaml --detach\n'
up=$(shipyard up serve.yaml --detach --json)
fleet=$(printf '%s' "$up" | json 'd["id"]')
port=$(printf '%s' "$up" | json '[u["port"] for u in d["units"] if u["name"] == "model-api"][0]')
url="http://127.0.0.1:$port"
echo "fleet $fleet: model-api on $url serves version $v1"

if [ "$what" != bad ]; then
  say "3. a better-regularised model (C=0.5): trained, gated, registered"
  sy run digits.yaml -p c=0.5 >/dev/null
  v2=$(latest_version)
  sy models show digits | head -4
  say "4. roll version $v2 out as a canary while load.py sends traffic"
  canary "$v2"
  sy models promote digits --to "$v2"
fi

if [ "$what" != good ]; then
  say "5. a deliberately bad model (shuffled labels): its gate stops it"
  set +e
  sy run digits.yaml -p shuffle_labels=true | grep -E "^ *(succeeded|gated|skipped|failed) |^reason"
  set -e
  bad=$(latest_execution)
  say "6. approved by hand anyway, registered, canaried: its KPIs break and it is rolled back"
  sy gate approve "$bad" evaluate --reason "demo: ship the shuffled-label model on purpose"
  sy resume "$bad" | grep -E "^ *(succeeded|gated|skipped|failed) " || true
  v3=$(latest_version)
  if canary "$v3"; then
    echo "unexpected: the bad model's canary was promoted" >&2
    exit 1
  fi
  echo "after the rollback, every request is the stable version's again:"
  python load.py "$url" --requests 50
fi
