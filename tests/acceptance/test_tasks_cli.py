"""``shipyard tasks login|submit|list|show|results|cancel`` as a user types them, against a real
``shipyard serve --db`` on the throwaway PostgreSQL, with a real ``shipyard worker``."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

# ruff: noqa: F811  (the fixture `served` is imported, and named by the tests' parameters)
from tests.integration.test_coordinator_routes import (  # noqa: F401  (fixtures)
    PASSWORD,
    Served,
    _group,
    pg_cluster,
    pg_url,
    served,
)
from tests.integration.test_coordinator_worker import (  # noqa: F401  (the reaping fixture)
    _reap_workers,
    _start_worker,
)
from tests.integration.test_task_keys_served import LossyProxy
from tests.serving import _executable

# slow as a file: a served coordinator on a throwaway PostgreSQL, with real workers or managers
# whose tests wait out leases, heartbeats and timeouts (make test-slow and CI run it)
pytestmark = [
    pytest.mark.local_only("talks to a coordinator of its own, not to the local server"),
    pytest.mark.slow,
]


def tasks(
    server: str, token: str | None, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("SHIPYARD_")}
    clean |= {"NO_COLOR": "1", "SHIPYARD_SERVER": server, **env}
    if token is not None:
        clean["SHIPYARD_TOKEN"] = token
    return subprocess.run(
        [_executable(), "tasks", *args], env=clean, capture_output=True, text=True, timeout=120
    )


def _login(served: Served) -> str:
    done = tasks(served.url, None, "login", "root", SHIPYARD_PASSWORD=PASSWORD)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_submit_list_results_and_cancel(served: Served, tmp_path: Path) -> None:
    token = _login(served)
    _group(served, {"Authorization": f"Bearer {token}"})
    made = tasks(served.url, token, "submit", "--group", "lab", "--count", "3", "--index-env",
                 "I", "--env", "WHO=ada", "--max-attempts", "1", "--json", "--",
                 "sh", "-c", 'echo "$WHO $I"')  # fmt: skip
    assert made.returncode == 0, made.stderr
    uuids = [a["uuid"] for a in json.loads(made.stdout)["accepted"]]
    assert len(uuids) == 3

    listed = tasks(served.url, token, "list", "--group", "lab")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count("queued") == 3 and "sh -c" in listed.stdout
    counted = tasks(served.url, token, "list", "--state", "queued", "--count")
    assert counted.stdout.strip() == "3"
    rooted = subprocess.run(  # the root options, as every command takes them
        [_executable(), "--server", served.url, "--token", token, "tasks", "list", "--count"],
        capture_output=True, text=True, timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")},
    )  # fmt: skip
    assert (rooted.returncode, rooted.stdout.strip()) == (0, "3"), rooted.stderr

    one = tasks(served.url, token, "cancel", uuids[2])
    assert one.returncode == 0 and one.stdout.startswith("cancelled 1"), one.stdout

    worker = _start_worker(served, tmp_path, "--max-tasks", "2")
    worker.communicate(timeout=120)
    assert worker.returncode == 0
    shown = tasks(served.url, token, "results", *uuids)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].startswith(f"{uuids[0]}  succeeded, exit 0, 1 attempt")
    assert "  | ada 0" in lines and "  | ada 1" in lines  # each copy got its own index
    assert f"{uuids[2]}  cancelled" in shown.stdout
    as_json = json.loads(tasks(served.url, token, "results", uuids[1], "--json").stdout)
    assert as_json[0]["output_tail"] == "ada 1\n"

    ran = tasks(served.url, token, "list", "--state", "succeeded", "--json")
    assert json.loads(ran.stdout)["count"] == 2
    late = tasks(served.url, token, "cancel", uuids[0], "--json")
    assert late.returncode == 1
    assert uuids[0] in json.loads(late.stdout)["refused"]

    for tag in ("a", "a", "b"):  # cancel by a filter: the two tagged a
        assert tasks(served.url, token, "submit", "--group", "lab", "--tag", tag, "--",
                     "true").returncode == 0  # fmt: skip
    by_tag = tasks(served.url, token, "cancel", "--group", "lab", "--tag", "a", "--json")
    assert by_tag.returncode == 0, by_tag.stderr
    assert len(json.loads(by_tag.stdout)["cancelled"]) == 2
    left = tasks(served.url, token, "list", "--state", "queued", "--count")
    assert left.stdout.strip() == "1"


def test_submit_keys_a_rerun_with_key_and_a_lost_answer_queue_each_task_once(
    served: Served,
) -> None:
    token = _login(served)
    _group(served, {"Authorization": f"Bearer {token}"})
    first = tasks(served.url, token, "submit", "--group", "lab", "--key", "nightly", "--count",
                  "2", "--json", "--", "true")  # fmt: skip
    assert first.returncode == 0, first.stderr
    made = json.loads(first.stdout)
    assert made["key"] == "nightly" and not any(a["existing"] for a in made["accepted"])
    uuids = [a["uuid"] for a in made["accepted"]]

    # The same command again (a script rerun after a crash): nothing new, and it says so.
    again = tasks(served.url, token, "submit", "--group", "lab", "--key", "nightly", "--count",
                  "2", "--", "true")  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert again.stdout.split() == uuids  # the tasks asked for, which were already there
    assert "2 of 2 tasks already submitted under their keys (nightly-INDEX)" in again.stderr
    more = tasks(served.url, token, "submit", "--group", "lab", "--key", "nightly", "--count",
                 "3", "--json", "--", "true")  # fmt: skip
    assert [a["existing"] for a in json.loads(more.stdout)["accepted"]] == [True, True, False]
    counted = tasks(served.url, token, "list", "--group", "lab", "--count")
    assert counted.stdout.strip() == "3", "a rerun with the same --key queued tasks twice"

    # No --key: the command's own keys make the resend of a batch whose answer was lost safe.
    with LossyProxy(served.url, "drop") as proxy:
        lost = tasks(proxy.url, token, "submit", "--group", "lab", "--count", "4", "--", "true")
    assert lost.returncode == 0, lost.stderr
    assert (proxy.lost, proxy.batches) == (1, 2), "the proxy lost no answer"
    assert "sending its 4 tasks again with the same keys" in lost.stderr
    assert len(set(lost.stdout.split())) == 4
    counted = tasks(served.url, token, "list", "--group", "lab", "--count")
    assert counted.stdout.strip() == "7", (
        f"a batch sent again after its answer was lost queued its tasks twice: {counted.stdout}"
    )

    # Every answer lost: the error's hint names the command's keys, and the same command with
    # them queues nothing more (the lost sends did).
    with LossyProxy(served.url, "504", lose=4) as proxy:
        failed = tasks(proxy.url, token, "submit", "--group", "lab", "--", "true")
    assert failed.returncode != 0 and proxy.batches == 4, failed.stderr
    assert "Traceback" not in failed.stderr
    given = re.search(r"run the same command with --key ([0-9a-f]{12})", failed.stderr)
    assert given is not None, failed.stderr
    rerun = tasks(served.url, token, "submit", "--group", "lab", "--key", given.group(1), "--",
                  "true")  # fmt: skip
    assert rerun.returncode == 0 and "1 of 1 task already submitted" in rerun.stderr, rerun
    counted = tasks(served.url, token, "list", "--group", "lab", "--count")
    assert counted.stdout.strip() == "8", f"four sends and a rerun queued {counted.stdout}"

    # Each record says its key, and that it joined no suite.
    shown = tasks(served.url, token, "show", uuids[0], "--json")
    assert shown.returncode == 0, shown.stderr
    assert (
        json.loads(shown.stdout)[0] | {"key": "nightly-0", "suite_uuid": None}
        == json.loads(shown.stdout)[0]
    )
    assert "  key: nightly-0" in tasks(served.url, token, "show", uuids[0]).stdout
    listed = json.loads(tasks(served.url, token, "list", "--json").stdout)["tasks"]
    assert len(listed) == 8 and all(task["suite_uuid"] is None for task in listed)


#: (arguments, token — None, a bad one or "user" —, what stderr must say). One coordinator for
#: all of them: starting one per case would cost ~10 s each on this machine.
REFUSALS: list[tuple[tuple[str, ...], str | None, str]] = [
    (("list",), None, "no token given"),
    (("list",), "not-a-token", "401"),
    (("results", "00000000-0000-0000-0000-000000000000"), "user", "404"),
    (("submit", "--group", "nowhere", "--", "true"), "user", "refused"),
    (("submit", "--group", "lab", "--env", "NOEQUALS", "--", "true"), "user", "NAME=VALUE"),
    (("submit", "--group", "lab", "--count", "0", "--", "true"), "user", "--count 0"),
    (("submit", "--group", "lab", "--key", " x", "--", "true"), "user", "--key ' x'"),
    (("show", "00000000-0000-0000-0000-000000000000"), "user", "404"),
    (("cancel",), "user", "nothing to cancel"),
    (("cancel", "x", "--group", "lab"), "user", "not both"),
    (("login", "root"), None, "no password given"),
]


def test_refusals_are_messages(served: Served) -> None:
    user = _login(served)
    wrong = []
    for args, token, said in REFUSALS:
        done = tasks(served.url, user if token == "user" else token, *args)
        if done.returncode == 0 or said not in done.stderr or "Traceback" in done.stderr:
            wrong.append(f"tasks {' '.join(args)} → {done.returncode}: {done.stderr!r}")
    assert wrong == [], "not refused as a message:\n" + "\n".join(wrong)


def test_no_server_and_a_server_that_does_not_answer(tmp_path: Path) -> None:
    done = tasks("", "t", "list")
    assert done.returncode == 2 and "no coordinator given" in done.stderr
    assert "hint:" in done.stderr
    gone = tasks("http://127.0.0.1:1", "t", "list")
    assert gone.returncode != 0 and "does not answer" in gone.stderr
    assert "Traceback" not in gone.stderr
