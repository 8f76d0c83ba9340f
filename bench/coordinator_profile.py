"""Where one request of each of the coordinator's hot routes spends its time (issue 13 §7), in
this process, on a throwaway PostgreSQL (tests/postgres.py: initdb + pg_ctl on 127.0.0.1).

The app is the served one (``create_app`` with ``--db``), called through httpx's
``ASGITransport`` — the whole ASGI stack (middlewares, routing, validation, dependencies, the
route, the response model, JSON) without sockets. Each route is measured twice in the same
rounds:

- ``served``: as it runs in ``shipyard serve`` — sync dependencies and routes on AnyIO's worker
  threads;
- ``inline``: the thread hand-off replaced by a direct call (only here, to profile it: cProfile
  sees one thread), so ``served − inline`` is what the hand-offs cost.

With ``--profile``, each route's inline calls run under cProfile and the top functions by
cumulative time are printed, grouped into parts (auth, SQL, pydantic, JSON, framework).

Routes: ``fetch`` (claim one from a full queue), ``report`` (of the claimed one), ``heartbeat``,
``submit`` (one task), ``result`` (of an ended task, no wait), ``batch`` (``--batch`` tasks in
one ``POST /tasks/batch``, per task).

    python bench/coordinator_profile.py [--calls 300] [--rounds 3] [--batch 1000] [--profile]

Nothing is asserted; the figures go in docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# The repository instead of bench/ first on the path: tests/postgres.py is imported from it.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import httpx  # noqa: E402
from tests.postgres import throwaway_cluster  # noqa: E402

from shipyard.coordinator import admin, migrate  # noqa: E402

PASSWORD = "bench password"
API = "/api/v1"


@contextmanager
def inline_threads() -> Iterator[None]:
    """Run what FastAPI/Starlette would hand to a worker thread directly on the loop."""
    import fastapi.concurrency
    import fastapi.dependencies.utils
    import fastapi.routing
    import starlette.concurrency

    from shipyard.coordinator import auth

    async def direct(*args: Any, **kwargs: Any) -> Any:
        return args[0](*args[1:], **kwargs)

    modules = [fastapi.concurrency, fastapi.dependencies.utils, fastapi.routing,
               starlette.concurrency, auth]  # fmt: skip
    saved = [(m, m.run_in_threadpool) for m in modules if hasattr(m, "run_in_threadpool")]
    for module, _ in saved:
        module.run_in_threadpool = direct  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for module, real in saved:
            module.run_in_threadpool = real  # type: ignore[attr-defined]


class Bench:
    def __init__(self, client: httpx.AsyncClient, user: dict[str, str], worker: dict[str, str],
                 batch: int) -> None:  # fmt: skip
        self.client, self.user, self.worker, self.batch = client, user, worker, batch
        self.held: list[tuple[str, int]] = []
        self.ended = ""

    async def post(self, path: str, body: Any, headers: dict[str, str]) -> Any:
        answer = await self.client.post(API + path, json=body, headers=headers)
        assert answer.status_code < 300, f"{path}: {answer.status_code} {answer.text[:300]}"
        return answer.json()

    async def fill(self, count: int) -> None:
        tasks = [{"group": "lab", "command": ["true"]} for _ in range(count)]
        for start in range(0, count, 1000):
            await self.post("/tasks/batch", {"tasks": tasks[start : start + 1000]}, self.user)

    async def fetch(self) -> None:
        got = await self.post("/workers/fetch", {"limit": 1, "wait": 0}, self.worker)
        self.held += [(t["uuid"], t["attempt"]) for t in got["tasks"]]

    async def report(self) -> None:
        uuid, attempt = self.held.pop()
        body = {"uuid": uuid, "attempt": attempt, "exit_status": 0, "output": "done\n"}
        await self.post("/workers/report", body, self.worker)
        self.ended = uuid

    async def heartbeat(self) -> None:
        await self.post("/workers/heartbeat", {"holding": []}, self.worker)

    async def submit(self) -> None:
        await self.post("/tasks", {"group": "other", "command": ["true"]}, self.user)

    async def result(self) -> None:
        answer = await self.client.get(f"{API}/tasks/{self.ended}/result", headers=self.user)
        assert answer.status_code == 200, answer.text

    async def batch_submit(self) -> None:
        tasks = [{"group": "other", "command": ["true"]} for _ in range(self.batch)]
        await self.post("/tasks/batch", {"tasks": tasks}, self.user)


#: This process's CPU seconds by route and mode (the app and the client both: the client's
#: share is the same for both trees), steadier than wall time on a busy machine.
CPU: dict[str, float] = {}


async def _timed(call: Callable[[], Awaitable[None]], calls: int) -> list[float]:
    spent = []
    for _ in range(calls):
        start = time.perf_counter()
        await call()
        spent.append(time.perf_counter() - start)
    return spent


async def _cpu_timed(key: str, run: Awaitable[list[float]], calls: int) -> list[float]:
    start = time.process_time()
    spent = await run
    CPU[key] = CPU.get(key, 0.0) + (time.process_time() - start) / calls
    return spent


ROUTES = ("fetch", "report", "heartbeat", "submit", "result", "batch")


async def _route(bench: Bench, name: str, calls: int) -> list[float]:
    if name == "fetch":
        return await _timed(bench.fetch, calls)
    if name == "report":
        while len(bench.held) < calls:  # claimed beforehand, not timed
            await bench.fetch()
        return await _timed(bench.report, calls)
    if name == "heartbeat":
        return await _timed(bench.heartbeat, calls)
    if name == "submit":
        return await _timed(bench.submit, calls)
    if name == "result":
        return await _timed(bench.result, calls)
    per_task = await _timed(bench.batch_submit, max(calls // 100, 2))
    return [value / bench.batch for value in per_task]


def _parts(stats: pstats.Stats) -> dict[str, float]:
    """Cumulative seconds of a few marker functions (overlapping: a part's time includes what it
    calls)."""
    markers = {
        "auth (token + rows)": ("shipyard/coordinator/auth.py", None),
        "jwt decode": ("jwt/api_jwt.py", "decode"),
        "SQL (psycopg execute)": ("psycopg/cursor.py", "execute"),
        "SQL (sqlalchemy execute)": ("sqlalchemy/engine/base.py", "execute"),
        "pydantic validate": ("pydantic/main.py", "model_validate"),
        "response serialise": ("fastapi/routing.py", "serialize_response"),
        "json encode": ("json/encoder.py", "encode"),
        "route function": ("shipyard/coordinator/routes.py", None),
    }
    found: dict[str, float] = {}
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (path, _, function), (_, _, _, cumulative, _) in raw.items():
        for part, (where, name) in markers.items():
            if path.endswith(where) and (name is None or function == name):
                # top-level entries only: the largest cumulative of the file/function
                found[part] = max(found.get(part, 0.0), cumulative)
    return found


async def _measure(client: httpx.AsyncClient, args: argparse.Namespace) -> None:
    headers = await _login(client)
    bench = Bench(client, *headers, batch=args.batch)
    needed = args.calls * args.rounds * 3 + 10
    await bench.fill(needed)
    await bench.fetch()
    await bench.report()
    spent: dict[str, dict[str, list[float]]] = {
        mode: {name: [] for name in ROUTES} for mode in ("served", "inline")
    }
    for _ in range(args.rounds):
        for name in ROUTES:
            per = args.calls if name != "batch" else max(args.calls // 100, 2) * args.batch
            spent["served"][name] += await _cpu_timed(
                "served " + name, _route(bench, name, args.calls), per * args.rounds
            )
            with inline_threads():
                spent["inline"][name] += await _cpu_timed(
                    "inline " + name, _route(bench, name, args.calls), per * args.rounds
                )
    print(f"{'route':10} {'served p50':>11} {'p95':>8} {'CPU':>7} {'inline p50':>11} {'p95':>8} "
          f"{'CPU':>7}   (ms a call; batch: a task)")  # fmt: skip
    for name in ROUTES:
        served, inline = sorted(spent["served"][name]), sorted(spent["inline"][name])
        print(f"{name:10} {_ms(served, 0.5):11.3f} {_ms(served, 0.95):8.3f} "
              f"{CPU['served ' + name] * 1e3:7.3f} {_ms(inline, 0.5):11.3f} "
              f"{_ms(inline, 0.95):8.3f} {CPU['inline ' + name] * 1e3:7.3f}")  # fmt: skip
    if args.profile:
        for name in ROUTES:
            profile = cProfile.Profile()
            with inline_threads():
                profile.enable()
                await _route(bench, name, args.calls)
                profile.disable()
            calls = args.calls if name != "batch" else max(args.calls // 100, 2) * args.batch
            _print_profile(name, profile, calls, args.top)


def _print_profile(name: str, profile: cProfile.Profile, calls: int, top: int) -> None:
    text = io.StringIO()
    stats = pstats.Stats(profile, stream=text)
    total = max(stats.total_tt, 1e-9)  # type: ignore[attr-defined]
    print(f"\n== {name}: {total / calls * 1e3:.3f} ms a call (profiled, inline)")
    for part, seconds in sorted(_parts(stats).items(), key=lambda item: -item[1]):
        print(f"   {part:26} {seconds / calls * 1e3:8.3f} ms  {seconds / total:6.1%}")
    stats.sort_stats("tottime").print_stats(top)
    lines = [line for line in text.getvalue().splitlines() if line.strip()]
    print("\n".join(line.replace(str(Path(sys.prefix)), "…") for line in lines[-top - 1 :]))


def _ms(values: list[float], share: float) -> float:
    return values[min(int(len(values) * share), len(values) - 1)] * 1e3


async def _login(client: httpx.AsyncClient) -> tuple[dict[str, str], dict[str, str]]:
    answer = await client.post(API + "/login", json={"name": "root", "password": PASSWORD})
    user = {"Authorization": f"Bearer {answer.json()['token']}"}
    for group in ("lab", "other"):
        made = await client.post(API + "/groups", json={"name": group}, headers=user)
        assert made.status_code == 201, made.text
    issued = await client.post(f"{API}/groups/lab/workers", headers=user)
    worker = {"Authorization": f"Bearer {issued.json()['token']}"}
    registered = await client.post(API + "/workers/register", json={"tags": []}, headers=worker)
    assert registered.status_code == 200, registered.text
    return user, worker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    from shipyard.server.app import create_app
    from shipyard.server.settings import Settings

    with throwaway_cluster() as cluster, tempfile.TemporaryDirectory() as home:
        cluster.psql("CREATE DATABASE bench")
        url = cluster.url("bench")
        migrate.upgrade(url)
        admin.create_user(url, "root", PASSWORD, admin=True)
        app = create_app(Settings(home=Path(home), db=url), token="t" * 32)

        async def run() -> None:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                await _measure(client, args)

        asyncio.run(run())
    print(f"\n(load average {' '.join(f'{x:.2f}' for x in __import__('os').getloadavg())})")


if __name__ == "__main__":
    main()
