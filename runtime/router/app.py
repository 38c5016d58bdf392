"""The hybrid router's HTTP face: each /v1/audio/speech request goes to edge, fog or cloud, with fallback.

It validates exactly as the runtime does (the same parser, the same JSON errors), then forwards the
original body untouched, so a tier receives what the client sent and answers as it would directly;
the answer streams back as it arrives. Failures move on to the next endpoint, then the next tier;
when nothing is left the client gets a 503 that lists every attempt, never a hang or a silent drop.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

import httpx
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Message

from voxdeploy.contracts.api import (
    FALLBACKS_HEADER,
    HEALTH_PATH,
    METRICS_PATH,
    MODELS_PATH,
    READY_PATH,
    SPEECH_PATH,
    TIER_HEADER,
)
from voxdeploy.contracts.metrics import ROUTER_SELF
from voxdeploy.contracts.model import MODEL_ID
from voxdeploy.contracts.router import RouterSettings, Tier
from voxdeploy.runtime import service
from voxdeploy.runtime.admission import Admission
from voxdeploy.runtime.app import run_server
from voxdeploy.runtime.http import ApiError, GuardedStream, enter_slot, parse_speech, read_body, unless_gone
from voxdeploy.runtime.router.endpoints import Endpoint, Pools, check_all, watch
from voxdeploy.runtime.router.metrics import RouterMetrics
from voxdeploy.runtime.router.policy import attempt_order, choose_tier, request_profile

log = logging.getLogger("voxdeploy.router")

FORWARDED_HEADERS = ("content-type", "accept")
_NOT_RELAYED = frozenset({"connection", "keep-alive", "transfer-encoding", "date", "server"})
"""Hop-by-hop headers, and those the router's own server sets."""


@dataclass(frozen=True)
class Attempt:
    """Something tried for a request and why it did not serve it, as the final 503 reports it."""

    tier: Tier
    endpoint: str | None
    outcome: str


@dataclass(frozen=True)
class Upstream:
    """The answer being relayed: whose it is and how many tiers were passed over to get it."""

    response: httpx.Response
    endpoint: Endpoint
    fallbacks: int
    started: float


class Exhausted(ApiError):
    """Every tier in the attempt order failed: a 503 listing what was tried."""

    def __init__(self, tier: Tier, attempts: list[Attempt], retry_after: float) -> None:
        if attempts:
            tried = "; ".join(
                f"{a.tier} {a.endpoint}: {a.outcome}" if a.endpoint else f"{a.tier}: {a.outcome}" for a in attempts
            )
            message = f"no tier could serve the request (tried {tried}); retry shortly"
        else:
            message = f"no endpoints are configured for the {tier} tier or the tiers it falls back to"
        super().__init__(503, message, None, "upstream_unavailable", retry_after)
        self.attempts = attempts

    def error(self) -> dict[str, object]:
        return {**super().error(), "attempts": [dataclasses.asdict(attempt) for attempt in self.attempts]}


def _replaying(request: Request, body: bytes) -> Request:
    """The request again with its body already read, so the runtime's parser can check what is forwarded."""
    messages = iter([{"type": "http.request", "body": body, "more_body": False}])

    async def receive() -> Message:
        return next(messages, {"type": "http.disconnect"})

    return Request(request.scope, receive)


def _describe(err: httpx.TransportError) -> str:
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


class Router:
    """State shared by the handlers of one router, and the Service that runtime/app.py starts, drains and closes."""

    def __init__(self, settings: RouterSettings) -> None:
        self.settings = settings
        self.draining = False
        self.pools = Pools(settings.endpoints, settings.health)
        self.metrics = RouterMetrics(self.pools)
        server = settings.server
        self.admission = Admission(server.max_concurrent_requests, server.max_queued_requests)
        self.client = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=server.max_concurrent_requests)
        )
        self.limits = settings.speech
        self._watcher: asyncio.Task[None] | None = None

    def drain(self) -> None:
        self.draining = True

    async def start(self) -> None:
        """Check every endpoint once before serving, then keep checking every health interval."""
        await check_all(self.pools, self.client)
        self._watcher = asyncio.create_task(watch(self.pools, self.client))

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        await self.client.aclose()

    async def speech(self, request: Request) -> Response:
        """POST /v1/audio/speech."""
        try:
            tier, order, body = await self._route(request)
            return await self._answer(request, tier, order, body)
        except ApiError as err:
            self.metrics.count_request(ROUTER_SELF, err.status)
            return err.response()
        except ClientDisconnect:
            self.metrics.count_request(ROUTER_SELF, 499)
            return Response(status_code=499)

    async def _route(self, request: Request) -> tuple[Tier, list[Tier], bytes]:
        """Validate as the runtime does; then the tier the policy picks and every tier to try, in order."""
        body = await read_body(request, self.limits.max_body_bytes)
        speech, reference = await parse_speech(_replaying(request, body), self.limits.max_body_bytes)
        profile = request_profile(speech, reference is not None, request.headers)
        if self.draining:
            raise ApiError(503, "the router is shutting down; retry shortly", None, "router_unavailable", retry_after=5)
        policy = self.settings.policy
        tier = choose_tier(profile, policy)
        return tier, attempt_order(tier, policy, self.pools.tiers), body

    async def _answer(self, request: Request, tier: Tier, order: list[Tier], body: bytes) -> Response:
        """The first good upstream answer, relayed; queueing and every attempt together get the request timeout,
        and a client that leaves cancels the upstream request."""
        timeout = self.settings.server.request_timeout_seconds
        timed_out = ApiError(504, f"no tier answered within {timeout:g} s", None, "timeout")
        upstream, slot = await unless_gone(
            request, self._admitted(tier, order, body, request.headers), timeout, timed_out
        )
        return self._relay(upstream, slot)

    async def _admitted(
        self, tier: Tier, order: list[Tier], body: bytes, headers: Mapping[str, str]
    ) -> tuple[Upstream, AbstractAsyncContextManager[None]]:
        """Forward within an admission slot, which the relay releases when the response is over."""
        slot = await enter_slot(self.admission)
        try:
            return await self._forward(tier, order, body, headers), slot
        except BaseException:
            await slot.__aexit__(None, None, None)
            raise

    async def _forward(self, tier: Tier, order: list[Tier], body: bytes, headers: Mapping[str, str]) -> Upstream:
        """Each tier's available endpoints in turn, tier after tier; the first answer that is not a failure wins."""
        forwarded = {name: headers[name] for name in FORWARDED_HEADERS if name in headers}
        attempts: list[Attempt] = []
        for index, current in enumerate(order):
            if index:
                self.metrics.count_fallback(order[index - 1], current)
            candidates = self.pools.candidates(current)
            if not candidates:
                attempts.append(Attempt(current, None, "no endpoint ready"))
            for endpoint in candidates:
                started = time.perf_counter()
                outcome = await self._try(endpoint, body, forwarded)
                if isinstance(outcome, httpx.Response):
                    return Upstream(outcome, endpoint, index, started)
                attempts.append(Attempt(current, endpoint.url, outcome))
        raise Exhausted(tier, attempts, retry_after=self.settings.health.interval_seconds)

    async def _try(self, endpoint: Endpoint, body: bytes, headers: Mapping[str, str]) -> httpx.Response | str:
        """The endpoint's answer, or why it is a failure. 429 is saturation, not a fault: it moves the request
        on without counting towards ejection. Any other 4xx is the request's fault and is the answer."""
        settings = self.settings
        limit = settings.tier_timeout_seconds.get(endpoint.tier, settings.server.request_timeout_seconds)
        timeout = httpx.Timeout(limit, connect=min(limit, settings.health.timeout_seconds))
        request = self.client.build_request(
            "POST", endpoint.url + SPEECH_PATH, content=body, headers=headers, timeout=timeout
        )
        try:
            response = await self.client.send(request, stream=True)
        except httpx.TransportError as err:
            self.pools.failed(endpoint)
            return _describe(err)
        if response.status_code == 429 or response.status_code >= 500:
            await response.aclose()
            if response.status_code != 429:
                self.pools.failed(endpoint)
            return f"HTTP {response.status_code}"
        self.pools.succeeded(endpoint)
        return response

    def _relay(self, upstream: Upstream, slot: AbstractAsyncContextManager[None]) -> Response:
        """Stream the upstream body through as it arrives; a break mid-way breaks the client's response too
        (it cannot be retried once audio went out, and a clean end would pass truncated audio off as whole)."""
        response, tier = upstream.response, upstream.endpoint.tier
        outcome = {"status": 499}

        async def body() -> AsyncIterator[bytes]:
            try:
                async for chunk in response.aiter_raw():
                    yield chunk
            except httpx.TransportError as err:
                outcome["status"] = 502
                self.pools.failed(upstream.endpoint)
                log.warning("%s endpoint %s broke off a response: %s", tier, upstream.endpoint.url, _describe(err))
                raise
            outcome["status"] = response.status_code

        async def cleanup(_: bool) -> None:
            await response.aclose()
            await slot.__aexit__(None, None, None)
            if outcome["status"] == response.status_code:
                self.metrics.observe_upstream(tier, time.perf_counter() - upstream.started)
            self.metrics.count_request(tier, outcome["status"])

        headers = {name: value for name, value in response.headers.items() if name.lower() not in _NOT_RELAYED}
        headers[TIER_HEADER] = tier
        headers[FALLBACKS_HEADER] = str(upstream.fallbacks)
        return GuardedStream(body(), cleanup, status_code=response.status_code, headers=headers)


def create_router_app(router: Router) -> Starlette:
    """The ASGI app; endpoints are checked once before it serves, then every health interval."""

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def ready(_: Request) -> Response:
        if router.draining:
            return JSONResponse({"status": "draining"}, status_code=503)
        states = router.pools.states()
        endpoints = [{"tier": endpoint.tier, "url": endpoint.url, "ready": available} for endpoint, available in states]
        if any(available for _, available in states):
            return JSONResponse({"status": "ready", "endpoints": endpoints})
        return JSONResponse({"status": "no endpoint ready", "endpoints": endpoints}, status_code=503)

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(router.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def models(_: Request) -> Response:
        entry = {
            "id": MODEL_ID,
            "object": "model",
            "owned_by": "voxdeploy",
            "router": True,
            "tiers": list(router.pools.tiers),
        }
        return JSONResponse({"object": "list", "data": [entry]})

    return Starlette(
        routes=[
            Route(HEALTH_PATH, health),
            Route(READY_PATH, ready),
            Route(METRICS_PATH, metrics),
            Route(MODELS_PATH, models),
            Route(SPEECH_PATH, router.speech, methods=["POST"]),
        ],
        lifespan=service.lifespan(router),
    )


def serve_router(settings: RouterSettings) -> None:
    router = Router(settings)
    run_server(create_router_app(router), router, settings.host, settings.server)
