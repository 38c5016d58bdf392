"""Endpoint pools: round robin over available endpoints, passive ejection, active /ready checks."""

from __future__ import annotations

import asyncio

import httpx

from voxdeploy.contracts.router import HealthChecking
from voxdeploy.runtime.router.endpoints import Pools, check_all

A, B, C = "http://a:1", "http://b:1", "http://c:1"
HEALTH = HealthChecking(eject_after_failures=2, ejection_seconds=10)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def pools(endpoints: dict, clock: Clock | None = None) -> Pools:
    made = Pools(endpoints, HEALTH, clock or Clock())
    for endpoint in made.all():
        made.checked(endpoint, True)
    return made


def urls(pool: Pools, tier: str) -> list[str]:
    return [endpoint.url for endpoint in pool.candidates(tier)]  # type: ignore[arg-type]


def test_round_robin_starts_one_further_each_time_and_lists_the_rest_as_retries() -> None:
    pool = pools({"edge": [A, B, C + "/"]})
    assert [urls(pool, "edge") for _ in range(4)] == [[A, B, C], [B, C, A], [C, A, B], [A, B, C]]


def test_tiers_are_those_with_endpoints_in_tier_order() -> None:
    pool = pools({"cloud": [A], "fog": [], "edge": [B]})
    assert pool.tiers == ("edge", "cloud")
    assert pool.candidates("fog") == []


def test_an_endpoint_failing_its_check_gets_no_traffic_until_it_passes() -> None:
    pool = pools({"edge": [A, B]})
    first = pool.all()[0]
    pool.checked(first, False)
    assert [urls(pool, "edge") for _ in range(2)] == [[B], [B]]
    pool.checked(first, True)
    assert sorted(urls(pool, "edge")) == [A, B]


def test_consecutive_failures_eject_for_the_ejection_time() -> None:
    clock = Clock()
    pool = pools({"edge": [A, B]}, clock)
    first = pool.all()[0]
    pool.failed(first)
    assert sorted(urls(pool, "edge")) == [A, B], "one failure is not enough"
    pool.failed(first)
    assert urls(pool, "edge") == [B]
    assert [(e.url, ok) for e, ok in pool.states()] == [(A, False), (B, True)]
    clock.now += 9.9
    assert urls(pool, "edge") == [B]
    clock.now += 0.1
    assert sorted(urls(pool, "edge")) == [A, B]
    pool.failed(first)
    assert A in urls(pool, "edge"), "the failure count starts again after an ejection"


def test_a_success_resets_the_run_of_failures() -> None:
    pool = pools({"edge": [A]})
    endpoint = pool.all()[0]
    for _ in range(3):
        pool.failed(endpoint)
        pool.succeeded(endpoint)
    assert urls(pool, "edge") == [A]


def test_endpoints_start_unchecked_and_a_check_round_marks_each() -> None:
    async def ready(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/ready"
        if request.url.host == "c":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200 if request.url.host == "a" else 503)

    pool = Pools({"edge": [A, B], "cloud": [C]}, HEALTH)
    assert not any(ok for _, ok in pool.states())

    async def run() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(ready)) as client:
            await check_all(pool, client)

    asyncio.run(run())
    assert [(e.url, ok) for e, ok in pool.states()] == [(A, True), (B, False), (C, False)]


def test_ejection_is_bounded_per_tier_and_a_held_back_endpoint_goes_once_the_tier_can_spare_it() -> None:
    clock = Clock()
    health = HealthChecking(eject_after_failures=1, ejection_seconds=10)  # at most 10% of a tier: at least one
    pool = Pools({"edge": [A, B, C], "cloud": ["http://d:1"]}, health, clock)
    for endpoint in pool.all():
        pool.checked(endpoint, True)
    a, b, _, d = pool.all()
    pool.failed(a)
    pool.failed(b)
    pool.failed(d)
    assert sorted(urls(pool, "edge")) == [B, C], "one of three edge endpoints out, not two"
    assert urls(pool, "cloud") == ["http://d:1"], "never the tier's last endpoint"
    clock.now += 10
    pool.failed(b)
    assert sorted(urls(pool, "edge")) == [A, C], "b's run kept counting: it goes as soon as a is back"


def test_an_endpoint_is_never_ejected_when_the_rest_of_its_tier_gets_no_traffic() -> None:
    health = HealthChecking(eject_after_failures=1, max_ejection_percent=100)
    pool = Pools({"edge": [A, B]}, health, Clock())
    a, b = pool.all()
    pool.checked(a, True)
    pool.checked(b, False)
    pool.failed(a)
    assert urls(pool, "edge") == [A]


def test_any_answer_to_a_check_shows_the_endpoint_alive_and_a_hang_takes_it_out() -> None:
    async def ready(request: httpx.Request) -> httpx.Response:
        if request.url.host == "b":
            raise httpx.ReadTimeout("no answer", request=request)
        return httpx.Response(503)  # draining, but alive

    clock = Clock()
    pool = Pools({"edge": [A, B]}, HEALTH, clock)

    async def run() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(ready)) as client:
            await check_all(pool, client)

    asyncio.run(run())
    a, b = pool.all()
    assert (a.answered_at, a.passing) == (clock.now, False)
    assert (b.answered_at, b.passing) == (float("-inf"), False)
    pool.checked(a, True)
    pool.hung(a, 5.0)
    assert not a.passing and a.failures == 1
