"""Send traffic to the model service: test images of the digits, POSTed to /predict.

Bounded in count and time, and only ever to the URL given (the service on this machine):
``python load.py URL --seconds 60 --while-pid PID`` stops when PID (the waiting ``shipyard
rollout start --wait``) has exited, after ``--seconds``, or after ``--requests``, whichever
comes first, and prints what it got back.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections import Counter

from sklearn.datasets import load_digits


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url", help="the service's URL, e.g. http://127.0.0.1:8100")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--while-pid", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    images = (load_digits().data / 16.0).tolist()
    answers: Counter[str] = Counter()
    versions: Counter[str] = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + args.seconds
    sent = 0
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, no proxy

    def worker(offset: int) -> None:
        nonlocal sent
        index = offset
        while time.monotonic() < deadline and (not args.while_pid or alive(args.while_pid)):
            with lock:
                if sent >= args.requests:
                    return
                sent += 1
            body = json.dumps({"pixels": images[index % len(images)]}).encode()
            index += args.threads
            request = urllib.request.Request(  # noqa: S310 - an http URL the user gave
                args.url.rstrip("/") + "/predict", data=body,
                headers={"Content-Type": "application/json"},
            )  # fmt: skip
            try:
                with opener.open(request, timeout=10) as response:
                    status, payload = response.status, response.read()
            except urllib.error.HTTPError as error:
                status, payload = error.code, error.read()
            except OSError:
                status, payload = 0, b"{}"
            try:
                version = str(json.loads(payload).get("version", "?"))
            except ValueError:
                version = "?"
            with lock:
                answers[str(status)] += 1
                versions[version] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = ", ".join(f"{n} × {code}" for code, n in sorted(answers.items()))
    by_version = ", ".join(f"v{v}: {n}" for v, n in sorted(versions.items()))
    print(f"load: {sum(answers.values())} requests ({codes}); answered by {by_version}")


if __name__ == "__main__":
    main()
