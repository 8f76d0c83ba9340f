"""What checking a coordinator token costs per request (issue 13 §2), on a throwaway PostgreSQL
(tests/postgres.py: initdb + pg_ctl on 127.0.0.1).

Measured in this process, without HTTP, so the figure is the auth part alone:
- ``decode``: the EdDSA signature and the claims (PyJWT + :func:`check_claims`), no database;
- ``worker``: :meth:`Auth.current_worker` as served: the token believed for
  ``PRINCIPAL_TTL`` (1 s) after its row was read, what a worker route pays;
- ``worker-read``: the same reading the principal's row every time (one indexed SELECT over a
  pooled connection, in autocommit);
- ``worker-tx``: that SELECT in a transaction (BEGIN, SELECT, ROLLBACK on return to the pool),
  to show what the autocommit reads save;
- ``user``: :meth:`Auth.current_user`, the same for a user: believed for ``USER_TTL`` (2 s);
- ``user-read``: the same decoding the token and reading the user's row every time;
- ``role``: a user route on a group: :meth:`Auth.current_user` then the role query;
- ``memberships``: :meth:`Auth.memberships` as the task routes call it (believed);
- ``login``: the password check (scrypt, N=2**14, r=8), what ``POST /login`` pays.

Each variant runs ``--calls`` times per round, round-robin over ``--rounds``; per-call median,
p95 and the median round's calls per second are printed. Nothing is asserted: the figures go
in docs/coordinator.md.

    python bench/auth.py [--calls 2000] [--rounds 3] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

# The repository instead of bench/ first on the path: tests/postgres.py is imported from it.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from fastapi.security import HTTPAuthorizationCredentials  # noqa: E402
from sqlalchemy import create_engine  # noqa: E402
from tests.postgres import throwaway_cluster  # noqa: E402

from shipyard.coordinator import admin, authstore, migrate, passwords  # noqa: E402
from shipyard.coordinator.auth import Auth  # noqa: E402
from shipyard.coordinator.tokens import Kind, Role  # noqa: E402

PASSWORD = "bench password"


def _timed(call: Callable[[], object], calls: int) -> list[float]:
    spent = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        spent.append(time.perf_counter() - start)
    return spent


def _variants(auth: Auth) -> dict[str, tuple[Callable[[], object], int]]:
    """Each variant and how many calls a round makes of it (login is ~1,000 times slower)."""
    with auth.engine.begin() as connection:
        user = authstore.user_by_name(connection, "ada")
        assert user is not None
        group = authstore.create_group(connection, "lab", user.id)
        assert group is not None
        worker = authstore.create_principal(connection, Kind.WORKER, group, user.id)
    user_token = auth.issue("ada", Kind.USER, user.signature, 3600).token
    worker_token = auth.issue(str(worker.id), Kind.WORKER, worker.signature, 3600).token
    # The same check reading in a transaction (BEGIN … ROLLBACK around the SELECT), as it did
    # before the autocommit reads: the figure that chose them.
    reading = Auth(auth.engine, *_pair(auth), principal_ttl=0, user_ttl=0)
    in_transaction = Auth(auth.engine, *_pair(auth), principal_ttl=0, user_ttl=0)
    in_transaction._reads = auth.engine
    as_user = HTTPAuthorizationCredentials(scheme="Bearer", credentials=user_token)
    as_worker = HTTPAuthorizationCredentials(scheme="Bearer", credentials=worker_token)
    return {
        "decode": (lambda: auth.claims(as_worker, Kind.WORKER), 1),
        "worker": (lambda: auth.current_worker(as_worker), 1),
        "worker-read": (lambda: reading.current_worker(as_worker), 1),
        "worker-tx": (lambda: in_transaction.current_worker(as_worker), 1),
        "user": (lambda: auth.current_user(as_user), 1),
        "user-read": (lambda: reading.current_user(as_user), 1),
        "role": (lambda: auth.check_role(auth.current_user(as_user), "lab", Role.WRITE), 1),
        "memberships": (lambda: auth.memberships(auth.current_user(as_user)), 1),
        "login": (lambda: passwords.verify_password(PASSWORD, user.password_hash), 0),
    }


def _pair(auth: Auth) -> tuple[str, str]:
    with auth.engine.begin() as connection:
        return authstore.signing_key_pair(connection)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    options = parser.parse_args()
    with throwaway_cluster() as cluster:
        cluster.psql("CREATE DATABASE bench")
        url = cluster.url("bench")
        migrate.upgrade(url)
        admin.create_user(url, "ada", PASSWORD, admin=False)
        engine = create_engine(migrate.sqlalchemy_url(url))
        try:
            results = _measure(Auth.start(engine), options.calls, options.rounds)
        finally:
            engine.dispose()
    for name, figures in results.items():
        print(
            f"{name:11} median {figures['median_us']:9.1f} µs  p95 {figures['p95_us']:9.1f} µs"
            f"  {figures['per_second']:9.0f}/s  ({figures['calls']} calls a round)"
        )
    if options.json:
        options.json.write_text(json.dumps(results, indent=2) + "\n")


def _measure(auth: Auth, calls: int, rounds: int) -> dict[str, dict[str, float]]:
    variants = _variants(auth)
    spent: dict[str, list[list[float]]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, (call, full) in variants.items():
            spent[name].append(_timed(call, calls if full else max(calls // 100, 5)))
    results = {}
    for name, per_round in spent.items():
        every = sorted(value for one in per_round for value in one)
        middle = statistics.median(sum(one) / len(one) for one in per_round)
        results[name] = {
            "median_us": statistics.median(every) * 1e6,
            "p95_us": every[int(len(every) * 0.95) - 1] * 1e6,
            "per_second": 1 / middle,
            "calls": len(per_round[0]),
        }
    return results


if __name__ == "__main__":
    main()
