"""The router app in-process, its upstreams faked with httpx.MockTransport: which failures move a request
on, which count towards ejection, and the router's own limits (429 queue full, 504 timeout)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable

import httpx
import pytest
from starlette.applications import Starlette

from voxdeploy.contracts.api import FALLBACKS_HEADER, TIER_HEADER
from voxdeploy.contracts.router import HealthChecking, RouterSettings, RoutingPolicy
from voxdeploy.contracts.runtime import RuntimeServer
from voxdeploy.runtime.router.app import Router, create_router_app
from voxdeploy.runtime.router.endpoints import check_all, watch

EDGE_A, EDGE_B, CLOUD = "http://edge-a:1", "http://edge-b:1", "http://cloud:1"
URGENT = {"X-Latency-Budget-Ms": "100"}
HIGH = {"X-Quality": "high"}
Upstream = Callable[[httpx.Request], Awaitable[httpx.Response]]


def settings(**overrides: object) -> RouterSettings:
    document: dict[str, object] = {
        "endpoints": {"edge": [EDGE_A, EDGE_B], "cloud": [CLOUD]},
        "health": HealthChecking(eject_after_failures=2, ejection_seconds=60),
        "policy": RoutingPolicy(fallback={"edge": ["cloud"], "cloud": ["edge"]}),
        **overrides,
    }
    return RouterSettings.model_validate(document)


async def started(upstream: Upstream, config: RouterSettings | None = None) -> tuple[Starlette, Router]:
    """A router app whose endpoints all passed their first check, its upstreams answered by `upstream`."""

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/ready":
            return httpx.Response(200)
        return await upstream(request)

    router = Router(config or settings())
    app = create_router_app(router)
    router.client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    await check_all(router.pools, router.client)
    return app, router


async def speak(
    upstream: Upstream,
    requests: list[tuple[dict, dict[str, str]]],
    config: RouterSettings | None = None,
    at_once: bool = True,
) -> tuple[list[httpx.Response], Router]:
    """POST each (body, headers), all at once or (`at_once=False`) one after another. Fake answers carry their
    body as a stream (`stream=`), as a real upstream's arrives."""
    app, router = await started(upstream, config)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://router") as client:
        posts = (client.post("/v1/audio/speech", json=body, headers=headers) for body, headers in requests)
        responses = await asyncio.gather(*posts) if at_once else [await post for post in posts]
    await router.client.aclose()
    return list(responses), router


POISON = "poison-pill"
"""A request holding this gets a 500 from every tier `answering` plays (as a lone surrogate in `voice` did)."""


def answering(statuses: dict[str, int], hits: Counter) -> Upstream:
    """Upstreams answering each origin's status (0: a read timeout), and 500 everywhere to a POISON request."""

    async def upstream(request: httpx.Request) -> httpx.Response:
        origin = f"http://{request.url.host}:1"
        hits[origin] += 1
        if statuses.get(origin) == 0:
            raise httpx.ReadTimeout("no answer", request=request)
        if POISON.encode() in request.content:
            return httpx.Response(500, json={"error": {"message": "internal error", "code": 500}})
        return httpx.Response(
            statuses.get(origin, 200),
            stream=httpx.ByteStream(b"RIFF" + origin.encode()),
            headers={"content-type": "audio/wav"},
        )

    return upstream


def tiers(responses: list[httpx.Response]) -> list[tuple[int, str | None, str | None]]:
    return [(r.status_code, r.headers.get(TIER_HEADER), r.headers.get(FALLBACKS_HEADER)) for r in responses]


def test_the_original_body_is_forwarded_and_the_answer_relayed() -> None:
    seen: list[httpx.Request] = []

    async def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200, stream=httpx.ByteStream(b"audio"), headers={"content-type": "audio/wav", "x-voxdeploy-engine": "sim"}
        )

    body = {"input": "Hi there.", "voice": {"id": "x"}, "seed": 7}
    (response,), _ = asyncio.run(speak(upstream, [(body, URGENT)]))
    assert response.content == b"audio" and response.headers["x-voxdeploy-engine"] == "sim"
    assert seen[0].url.path == "/v1/audio/speech" and seen[0].headers["content-type"] == "application/json"
    assert httpx.Response(200, content=seen[0].content).json() == body


def test_a_failing_endpoint_is_retried_on_the_next_then_ejected() -> None:
    hits: Counter = Counter()
    requests = [({"input": "Hi."}, URGENT)] * 6
    responses, router = asyncio.run(speak(answering({EDGE_A: 500}, hits), requests, at_once=False))
    assert tiers(responses) == [(200, "edge", "0")] * 6
    assert hits[EDGE_A] == 2 and hits[EDGE_B] == 6, "two failures in a row eject edge-a"
    assert [(e.url, ok) for e, ok in router.pools.states()] == [(EDGE_A, False), (EDGE_B, True), (CLOUD, True)]


@pytest.mark.parametrize("status", [0, 500, 502, 503])
def test_a_whole_tier_failing_falls_back_to_the_next(status: int) -> None:
    hits: Counter = Counter()
    failing = {EDGE_A: status, EDGE_B: status}
    responses, router = asyncio.run(speak(answering(failing, hits), [({"input": "Hi."}, URGENT)]))
    assert tiers(responses) == [(200, "cloud", "1")]
    assert hits == {EDGE_A: 1, EDGE_B: 1, CLOUD: 1}
    assert 'voxdeploy_router_fallbacks_total{from_tier="edge",to_tier="cloud"} 1.0' in _metrics(router)


def test_429_moves_the_request_on_without_counting_towards_ejection() -> None:
    hits: Counter = Counter()
    responses, router = asyncio.run(speak(answering({CLOUD: 429}, hits), [({"input": "Hi."}, HIGH)] * 3))
    assert tiers(responses) == [(200, "edge", "1")] * 3
    assert hits[CLOUD] == 3 and all(ok for _, ok in router.pools.states())


def test_a_4xx_from_a_tier_is_the_answer_and_nothing_else_is_tried() -> None:
    hits: Counter = Counter()
    (response,), router = asyncio.run(speak(answering({EDGE_A: 400, EDGE_B: 400}, hits), [({"input": "Hi."}, URGENT)]))
    assert tiers([response]) == [(400, "edge", "0")]
    assert sum(hits.values()) == 1 and all(ok for _, ok in router.pools.states())
    assert 'voxdeploy_router_requests_total{code="400",tier="edge"} 1.0' in _metrics(router)


def test_when_every_tier_fails_the_503_says_which_and_why_without_internal_urls() -> None:
    hits: Counter = Counter()
    failing = {EDGE_A: 503, EDGE_B: 0, CLOUD: 429}
    (response,), router = asyncio.run(speak(answering(failing, hits), [({"input": "Hi."}, URGENT)]))
    assert response.status_code == 503 and int(response.headers["Retry-After"]) >= 1
    assert TIER_HEADER not in response.headers
    error = response.json()["error"]
    assert error["type"] == "upstream_unavailable"
    assert sorted((a["tier"], a["outcome"]) for a in error["attempts"]) == [
        ("cloud", "HTTP 429"),
        ("edge", "HTTP 503"),
        ("edge", "no answer within the tier's 30 s timeout"),
    ]
    assert error["message"].startswith("no tier could serve the request (tried edge: ")
    assert not any(host in response.text for host in ("edge-a", "edge-b", "cloud:1", "http://"))
    assert 'voxdeploy_router_requests_total{code="503",tier="none"} 1.0' in _metrics(router)


def test_a_request_every_tier_fails_counts_against_no_endpoint() -> None:
    """Reproduced: two such requests per endpoint (the ejection threshold here) ejected every endpoint of every
    tier, and the good request after them got 503."""
    hits: Counter = Counter()
    poison = [({"input": f"Hi {POISON}."}, URGENT)] * 6
    responses, router = asyncio.run(speak(answering({}, hits), [*poison, ({"input": "Hi."}, URGENT)], at_once=False))
    assert [r.status_code for r in responses[:-1]] == [503] * 6
    assert responses[0].json()["error"]["attempts"] == [
        {"tier": "edge", "outcome": "HTTP 500"},
        {"tier": "edge", "outcome": "HTTP 500"},
        {"tier": "cloud", "outcome": "HTTP 500"},
    ]
    assert tiers(responses[-1:]) == [(200, "edge", "0")]
    assert all(ok for _, ok in router.pools.states()) and not any(e.failures for e in router.pools.all())


def test_a_5xx_counts_once_another_tier_serves_the_same_request() -> None:
    hits: Counter = Counter()
    requests = [({"input": "Hi."}, URGENT)] * 2
    (response,), router = asyncio.run(speak(answering({EDGE_A: 500, EDGE_B: 502}, hits), requests[:1]))
    assert tiers([response]) == [(200, "cloud", "1")]
    assert {e.url: e.failures for e in router.pools.all()} == {EDGE_A: 1, EDGE_B: 1, CLOUD: 0}
    responses, router = asyncio.run(
        speak(answering({EDGE_A: 500, EDGE_B: 502, CLOUD: 400}, hits), requests, at_once=False)
    )
    assert tiers(responses) == [(400, "cloud", "1")] * 2
    assert not any(e.failures for e in router.pools.all()), "a 4xx elsewhere says the request is at fault"


@pytest.mark.parametrize(
    ("percent", "ejected"),
    [(10, 1), (50, 2), (100, 3)],  # of four; at least one whatever the percentage, never the last
)
def test_ejection_is_bounded_per_tier(percent: int, ejected: int) -> None:
    edges = [f"http://edge-{n}:1" for n in range(4)]
    config = settings(
        endpoints={"edge": edges, "cloud": [CLOUD]},
        health=HealthChecking(eject_after_failures=1, ejection_seconds=60, max_ejection_percent=percent),
    )
    hits: Counter = Counter()
    broken = dict.fromkeys(edges, 500)
    responses, router = asyncio.run(speak(answering(broken, hits), [({"input": "Hi."}, URGENT)] * 8, config, False))
    assert tiers(responses) == [(200, "cloud", "1")] * 8
    states = [ok for endpoint, ok in router.pools.states() if endpoint.tier == "edge"]
    assert states.count(False) == ejected and states.count(True) == 4 - ejected


def test_connect_failures_count_at_once_and_use_the_connect_timeout() -> None:
    seen: list[httpx.Request] = []

    async def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "edge-a":
            raise httpx.ConnectTimeout("timed out", request=request)
        return httpx.Response(200, stream=httpx.ByteStream(b"audio"))

    (response,), router = asyncio.run(
        speak(upstream, [({"input": "Hi."}, URGENT)], settings(connectTimeoutSeconds=0.5))
    )
    assert tiers([response]) == [(200, "edge", "0")]
    assert {r.url.host: r.extensions["timeout"]["connect"] for r in seen} == {"edge-a": 0.5, "edge-b": 0.5}
    assert {e.url: e.failures for e in router.pools.all()}[EDGE_A] == 1, "connecting is never the request's fault"


QUICK_CHECKS = HealthChecking(interval_seconds=0.05, timeout_seconds=0.05, eject_after_failures=2, ejection_seconds=60)


def test_an_endpoint_that_answers_nothing_loses_the_request_after_the_first_byte_timeout() -> None:
    async def upstream(request: httpx.Request) -> httpx.Response:
        if request.url.host == "edge-a":
            await asyncio.sleep(30)
        return httpx.Response(200, stream=httpx.ByteStream(b"audio"))

    config = settings(health=QUICK_CHECKS, first_byte_timeout_seconds=0.3)
    began = time.perf_counter()
    (response,), router = asyncio.run(speak(upstream, [({"input": "Hi."}, URGENT)], config))
    assert tiers([response]) == [(200, "edge", "0")] and time.perf_counter() - began < 2
    assert [(e.url, ok) for e, ok in router.pools.states()] == [(EDGE_A, False), (EDGE_B, True), (CLOUD, True)]


def test_a_busy_endpoint_that_answers_its_checks_keeps_the_request() -> None:
    async def upstream(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.6)  # twice the first-byte timeout
        return httpx.Response(200, stream=httpx.ByteStream(b"audio"))

    async def run() -> list[httpx.Response]:
        app, router = await started(upstream, settings(health=QUICK_CHECKS, first_byte_timeout_seconds=0.3))
        checks = asyncio.create_task(watch(router.pools, router.client))
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://router") as client:
                return [await client.post("/v1/audio/speech", json={"input": "Hi."}, headers=URGENT)]
        finally:
            checks.cancel()
            await router.client.aclose()

    assert tiers(asyncio.run(run())) == [(200, "edge", "0")]


def test_a_first_byte_timeout_a_live_endpoint_could_outlast_between_checks_is_refused() -> None:
    with pytest.raises(ValueError, match=r"must exceed health\.intervalSeconds"):
        settings(first_byte_timeout_seconds=2.5)  # checks every 2 s, each allowed 1 s


def test_a_full_router_queue_answers_429() -> None:
    release = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return httpx.Response(200, stream=httpx.ByteStream(b"audio"))

    async def run() -> list[httpx.Response]:
        config = settings(server=RuntimeServer(max_concurrent_requests=1, max_queued_requests=1))
        task = asyncio.ensure_future(speak(slow, [({"input": "Hi."}, URGENT)] * 3, config))
        await asyncio.sleep(0.2)
        release.set()
        responses, _ = await task
        return responses

    responses = sorted(asyncio.run(run()), key=lambda r: r.status_code)
    assert tiers(responses) == [(200, "edge", "0"), (200, "edge", "0"), (429, None, None)]
    assert responses[-1].json()["error"]["type"] == "rate_limit_exceeded" and "Retry-After" in responses[-1].headers


def test_the_request_timeout_gets_504_and_frees_the_slot() -> None:
    async def never(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        raise AssertionError("unreachable")

    config = settings(server=RuntimeServer(request_timeout_seconds=0.2))
    (response,), router = asyncio.run(speak(never, [({"input": "Hi."}, URGENT)], config))
    assert response.status_code == 504 and response.json()["error"]["type"] == "timeout"
    assert router.admission.running == 0 and router.admission.waiting == 0


class BreaksOff(httpx.AsyncByteStream):
    async def __aiter__(self):  # type: ignore[no-untyped-def]
        yield b"RIFF...."
        raise httpx.ReadError("connection reset")


def test_an_upstream_breaking_off_mid_answer_breaks_the_clients_answer_too() -> None:
    async def breaks(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=BreaksOff(), headers={"content-type": "audio/wav"})

    async def run() -> Router:
        app, router = await started(breaks)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://router") as client:
            with pytest.raises(httpx.ReadError):
                await client.post("/v1/audio/speech", json={"input": "Hi."}, headers=URGENT)
        return router

    router = asyncio.run(run())
    assert 'voxdeploy_router_requests_total{code="502",tier="edge"} 1.0' in _metrics(router)
    assert sum(endpoint.failures for endpoint in router.pools.all()) == 1


def _metrics(router: Router) -> str:
    from prometheus_client import generate_latest

    return generate_latest(router.metrics.registry).decode()


def test_the_router_enforces_its_own_body_limit() -> None:
    """`speech.maxBodyBytes` of the router's settings, not a built-in default, bounds what it reads."""
    from voxdeploy.contracts.router import RouterSettings
    from voxdeploy.contracts.runtime import SpeechLimits
    from voxdeploy.runtime.router.app import Router

    settings = RouterSettings(endpoints={"cloud": ["http://127.0.0.1:9"]}, speech=SpeechLimits(max_body_bytes=2048))
    assert Router(settings).limits.max_body_bytes == 2048
