"""Canary rollouts, the pure parts: the decision at each window, the weighted split, the
window figures, the status read from events, and bad rollout settings refused at file:line."""

from __future__ import annotations

import random
import textwrap
from pathlib import Path

import pytest

from shipyard.errors import SpecError, SpecProblem
from shipyard.models import Event
from shipyard.plan.model import GateSettings, Plan
from shipyard.rollout.decide import WindowFigures, decide, figures, percentile, routes_to_canary
from shipyard.rollout.status import rollout_views
from shipyard.spec.loader import load_spec_text

KPIS = [GateSettings("error_rate", "<", 0.01), GateSettings("p95_latency_ms", "<", 250.0)]
STEPS = [10, 50, 100]
GOOD = WindowFigures(40, 0, 5.0, 20.0, 30.0)


@pytest.mark.parametrize(
    ("canary", "step", "action", "next_step", "said"),
    [
        (GOOD, 0, "advance", 1, "at 10%: KPIs held (40 requests, 0 errors"),
        (GOOD, 1, "advance", 2, "on to 100%"),
        (GOOD, 2, "promote", 2, "at 100%: KPIs held"),
        (WindowFigures(19, 0, 5.0, 20.0, 30.0), 0, "hold", 0, "19 of the 20 requests needed"),
        (WindowFigures(0), 1, "hold", 1, "at 50%: 0 of the 20"),
        # 1 error in 40: 0.025 breaks error_rate < 0.01, and says the measured figure
        (
            WindowFigures(40, 1, 5.0, 20.0, 30.0),
            1,
            "rollback",
            1,
            "KPI error_rate < 0.01 failed: measured error_rate = 0.025",
        ),
        (
            WindowFigures(40, 0, 5.0, 300.0, 400.0),
            0,
            "rollback",
            0,
            "KPI p95_latency_ms < 250 failed: measured p95_latency_ms = 300",
        ),
        # at the edge: < is strict
        (WindowFigures(40, 0, 5.0, 250.0, 250.0), 2, "rollback", 2, "p95_latency_ms = 250"),
        # a broken KPI at the last step is a rollback, never a promotion
        (WindowFigures(20, 20, 1.0, 1.0, 1.0), 2, "rollback", 2, "measured error_rate = 1,"),
    ],
)
def test_each_window_decides_the_next_move(
    canary: WindowFigures, step: int, action: str, next_step: int, said: str
) -> None:
    decision = decide(canary, KPIS, step=step, steps=STEPS, min_requests=20)
    assert (decision.action, decision.step) == (action, next_step), decision
    assert said in decision.reason, decision.reason


def test_without_kpis_enough_requests_is_enough() -> None:
    decision = decide(WindowFigures(5, 5), [], step=0, steps=[100], min_requests=5)
    assert decision.action == "promote"


@pytest.mark.parametrize(
    ("draw", "weight", "canary"),
    [(0.0, 0, False), (0.0, 1, True), (0.099, 10, True), (0.1, 10, False), (0.999, 100, True)],
)
def test_a_draw_goes_to_the_canary_below_its_weight(draw: float, weight: int, canary: bool) -> None:
    assert routes_to_canary(draw, weight) is canary


def test_a_seeded_split_is_repeatable_and_near_its_weight() -> None:
    def split(seed: int) -> list[bool]:
        rng = random.Random(seed)
        return [routes_to_canary(rng.random(), 30) for _ in range(2000)]

    assert split(7) == split(7)
    share = sum(split(7)) / 2000
    assert 0.27 < share < 0.33, share


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [([], 0.5, None), ([4.0], 0.99, 4.0), ([1, 2, 3, 4], 0.5, 2), ([*range(1, 101)], 0.95, 95)],
)
def test_percentiles_are_nearest_rank(
    values: list[float], fraction: float, expected: float | None
) -> None:
    assert percentile(values, fraction) == expected


def test_a_windows_figures_count_errors_among_its_requests() -> None:
    window = figures([3.0, 1.0, 2.0, 100.0], errors=1)
    assert (window.requests, window.error_rate, window.p50_latency_ms) == (4, 0.25, 2.0)
    assert window.p99_latency_ms == 100.0
    assert WindowFigures().values() == {}  # nothing measured: a KPI on it fails as unreported


def test_status_follows_the_events_of_the_latest_rollout() -> None:
    def event(ts: float, action: str, **data: object) -> Event:
        return Event(ts, "x", action, "web", dict(data))

    events = [
        event(1, "rollout_proxy_serving", port=8100, internal=4000),
        event(2, "rollout_started", changes={"V": "1"}, steps=[50, 100]),
        event(3, "rollout_step", step=0, weight=50),
        event(4, "rollout_decision", decision="rollback", reason="bad", canary={"requests": 9}),
        event(5, "rollout_rolled_back", reason="bad"),
        event(6, "rollout_started", changes={"V": "2"}, steps=[50, 100]),
        event(7, "rollout_step", step=0, weight=50),
        Event(8, "x", "service_started", "web", {}),
    ]
    view = rollout_views("x", events)["web"]
    assert (view.state, view.weight, view.changes, view.port) == ("running", 50, {"V": "2"}, 8100)
    assert view.decisions == [] and view.reason is None
    view = rollout_views("x", events[:5])["web"]
    assert (view.state, view.weight, view.reason) == ("rolled_back", 0, "bad")
    assert view.figures == {"requests": 9.0} and view.decisions == ["rollback: bad"]


# -- bad rollout settings, each at its file:line ----------------------------------------------


SPEC = """
name: svc
services:
  web:
    run: [python, server.py]
    port: auto
    health: {{http: /health}}
    rollout:
      {rollout}
"""


def problems_of(text: str) -> list[SpecProblem]:
    with pytest.raises(SpecError) as error:
        load_spec_text(textwrap.dedent(text).lstrip("\n"), Path("/specs/svc.yaml"))
    return error.value.problems


@pytest.mark.parametrize(
    ("rollout", "said"),
    [
        ("steps: [10, 50]", "end at 50, not 100"),
        ("steps: [50, 10, 100]", "do not increase (50 then 10)"),
        ("steps: [10, 10, 100]", "do not increase (10 then 10)"),
        ("steps: [0, 100]", "step 0 is not a share of requests"),
        ("steps: [10, 150]", "step 150 is not a share of requests"),
        ("steps: []", "at least 1 item"),
        ('kpis: [{metric: accuracy, "<": 1}]', "KPI on 'accuracy': the rollout's proxy does not"),
        ('kpis: [{metric: error_rate, "=<": 1}]', "'=<' is not a comparison"),
        ('kpis: [{metric: error_rate, "<": 1, ">": 0}]', "has 2 comparisons"),
        ("interval: 10ms", "interval 10ms is too short"),
        ("strategy: blue-green", "canary"),
        ("min_requests: 0", "greater than or equal to 1"),
    ],
)
def test_bad_rollout_settings_are_refused_where_they_are(rollout: str, said: str) -> None:
    (problem,) = problems_of(SPEC.format(rollout=rollout))
    assert said in problem.message, problem
    assert problem.location is not None and problem.location.line in (7, 8), problem


def test_a_canary_without_a_health_check_is_refused_before_anything_starts() -> None:
    text = SPEC.format(rollout="steps: [50, 100]").replace("    health: {http: /health}\n", "")
    (problem,) = problems_of(text)
    assert "a canary rollout needs a health check" in problem.message, problem
    assert problem.location is not None and problem.location.line == 4, problem  # web: …


def test_a_canary_without_a_port_is_refused() -> None:
    text = SPEC.format(rollout="steps: [50, 100]").replace("    port: auto\n", "")
    (problem,) = problems_of(text)
    assert "a canary rollout needs a port" in problem.message, problem


def test_good_rollout_settings_reach_the_plan() -> None:
    from shipyard.plan.build import build_plan

    text = SPEC.format(
        rollout='{steps: [20, 100], interval: 0.5s, kpis: [{metric: error_rate, "<": 0.01}]}'
    )
    loaded = load_spec_text(textwrap.dedent(text).lstrip("\n"), Path("/specs/svc.yaml"))
    rollout = build_plan(loaded, {}, cores=2).services[0].rollout
    assert rollout is not None
    assert (rollout.steps, rollout.interval, rollout.min_requests) == ([20, 100], 0.5, 20)
    assert rollout.kpis == [GateSettings("error_rate", "<", 0.01)]


# -- `up` of a changed spec: a rollout, or a fleet of its own -------------------------------

FLEET = """
name: svc
env: {SHARED: a}
services:
  web:
    run: [python, server.py]
    port: auto
    env: {VERSION: '1', LEVEL: x}
    health: {http: /health}
    rollout: {steps: [50, 100]}
  db:
    run: [python, db.py]
    env: {SIZE: '1'}
"""


def _plan(text: str) -> Plan:
    from shipyard.plan.build import build_plan

    loaded = load_spec_text(textwrap.dedent(text).lstrip("\n"), Path("/specs/svc.yaml"))
    return build_plan(loaded, {}, cores=2)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("VERSION: '1'", "VERSION: '2'", {"web": {"VERSION": "2"}}),
        ("LEVEL: x}", "LEVEL: x, EXTRA: on}", {"web": {"EXTRA": "on"}}),
        ("VERSION: '1'", "VERSION: '1'", None),  # nothing changed: not a rollout
        ("VERSION: '1', LEVEL: x", "VERSION: '1'", None),  # a variable removed
        ("SIZE: '1'", "SIZE: '2'", None),  # a service without rollout:
        ("SHARED: a", "SHARED: b", None),  # every service's env, db's too
        ("[python, server.py]", "[python, -u, server.py]", None),  # the command
        ("steps: [50, 100]", "steps: [10, 100]", None),  # the rollout itself
        ("name: svc", "name: other", None),
    ],
)
def test_only_env_values_of_rollout_services_make_up_a_rollout(
    old: str, new: str, expected: dict[str, dict[str, str]] | None
) -> None:
    from shipyard.rollout.specdiff import rollout_changes

    assert old in FLEET
    assert rollout_changes(_plan(FLEET), _plan(FLEET.replace(old, new))) == expected


def test_a_busy_window_keeps_a_bounded_sample_but_every_count() -> None:
    from shipyard.rollout.proxy import WINDOW_SAMPLE, _Window

    window, rng, total = _Window(), random.Random(3), WINDOW_SAMPLE + 500
    for index in range(total):
        window.add(float(index % 100), failed=index % 10 == 0, rng=rng)
    assert len(window.latencies) == WINDOW_SAMPLE  # memory bounded
    measured = window.figures()
    assert (measured.requests, measured.errors) == (total, total // 10)
    assert measured.p50_latency_ms is not None and 40 <= measured.p50_latency_ms <= 60


def test_a_canary_of_a_replicated_service_is_refused() -> None:
    text = SPEC.format(rollout="steps: [50, 100]").replace(
        "    port: auto\n", "    port: auto\n    replicas: 2\n"
    )
    (problem,) = problems_of(text)
    assert "a canary rollout is for a service of one replica" in problem.message, problem
