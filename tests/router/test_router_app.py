"""The router app in-process, its upstreams faked with httpx.MockTransport: which failures move a request
on, which count towards ejection, and the router's own limits (429 queue full, 504 timeout)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable

import httpx
import pytest
from starlette.applications import Starlette

from voxdeploy.contracts.api import FALLBACKS_HEADER, TIER_HEADER
from voxdeploy.contracts.router import HealthChecking, RouterSettings, RoutingPolicy
from voxdeploy.contracts.runtime import RuntimeServer
from voxdeploy.runtime.router.app import Router, create_router_app
from voxdeploy.runtime.router.endpoints import check_all

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
) -> tuple[list[httpx.Response], Router]:
    """POST each (body, headers) at once. Fake answers carry their body as a stream (`stream=`), as a real
    upstream's arrives."""
    app, router = await started(upstream, config)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://router") as client:
        responses = await asyncio.gather(
            *(client.post("/v1/audio/speech", json=body, headers=headers) for body, headers in requests)
        )
    await router.client.aclose()
    return list(responses), router


def answering(statuses: dict[str, int], hits: Counter) -> Upstream:
    async def upstream(request: httpx.Request) -> httpx.Response:
        origin = f"http://{request.url.host}:1"
        hits[origin] += 1
        if statuses.get(origin) == 0:
            raise httpx.ReadTimeout("no answer", request=request)
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
    responses, router = asyncio.run(speak(answering({EDGE_A: 500}, hits), [({"input": "Hi."}, URGENT)] * 6))
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


def test_when_every_tier_fails_the_503_lists_each_attempt() -> None:
    hits: Counter = Counter()
    failing = {EDGE_A: 503, EDGE_B: 0, CLOUD: 429}
    (response,), router = asyncio.run(speak(answering(failing, hits), [({"input": "Hi."}, URGENT)]))
    assert response.status_code == 503 and int(response.headers["Retry-After"]) >= 1
    assert TIER_HEADER not in response.headers
    error = response.json()["error"]
    assert error["type"] == "upstream_unavailable"
    assert sorted((a["endpoint"], a["outcome"]) for a in error["attempts"]) == [
        (CLOUD, "HTTP 429"),
        (EDGE_A, "HTTP 503"),
        (EDGE_B, "ReadTimeout: no answer"),
    ]
    assert 'voxdeploy_router_requests_total{code="503",tier="none"} 1.0' in _metrics(router)


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
