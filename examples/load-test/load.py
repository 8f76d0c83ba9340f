"""A small HTTP load test: N requests against $SHIPYARD_URL_WEB, latencies measured here.

Prints the count, the failures and the p50/p95/p99 latencies it measured, and writes them as JSON
to the run's artifacts folder. Exits 1 when any request failed.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import urllib.request
from pathlib import Path


def main() -> int:
    url = os.environ["SHIPYARD_URL_WEB"] + "/data.json"
    requests = int(os.environ.get("SHIPYARD_PARAM_REQUESTS", "200"))
    latencies: list[float] = []
    failures = 0
    for _ in range(requests):
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                json.load(answer)
        except (OSError, ValueError):
            failures += 1
            continue
        latencies.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    result = {
        "url": url,
        "requests": requests,
        "failures": failures,
        "p50_ms": round(cuts[49], 3),
        "p95_ms": round(cuts[94], 3),
        "p99_ms": round(cuts[98], 3),
    }
    print(json.dumps(result))
    out = Path(os.environ.get("SHIPYARD_ARTIFACTS_DIR", ".")) / "load-test.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
