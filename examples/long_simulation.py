"""A long computation that can be checkpointed: it counts to --to, one step every --every seconds.

On SIGUSR1 it writes its progress to state.json and then creates state.ready (Shipyard waits for
that file before copying state.json into a checkpoint). Started with SHIPYARD_RESTORE_DIR set
(a restore from a checkpoint), it continues from the saved count instead of from zero.
"""

import argparse
import json
import os
import signal
import time
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--to", type=int, default=100)
parser.add_argument("--every", type=float, default=0.1)
args = parser.parse_args()

state = {"count": 0}
restore = os.environ.get("SHIPYARD_RESTORE_DIR")
if restore and (Path(restore) / "state.json").exists():
    state = json.loads((Path(restore) / "state.json").read_text())
print(f"starting from {state['count']}", flush=True)


def save(*_: object) -> None:
    Path("state.tmp").write_text(json.dumps(state))
    os.replace("state.tmp", "state.json")  # a whole file or the old one, never half
    Path("state.ready").touch()
    print(f"checkpoint at {state['count']}", flush=True)


signal.signal(signal.SIGUSR1, save)
while state["count"] < args.to:
    time.sleep(args.every)
    state["count"] += 1
print(f"finished at {state['count']}", flush=True)
