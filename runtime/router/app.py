"""The hybrid router's HTTP face: each /v1/audio/speech request goes to edge, fog or cloud, with fallback.

It validates exactly as the runtime does (the same parser, the same JSON errors), then forwards the
original body untouched, so a tier receives what the client sent and answers as it would directly;
the answer streams back as it arrives. Failures move on to the next endpoint, then the next tier;
when nothing is left the client gets a 503 that lists every tier tried and why it failed (never the
endpoints' internal URLs, which the router's log has), never a hang or a silent drop.

Only failures the request cannot be to blame for count towards ejecting an endpoint: one could not be
reached or hung, or it failed a request that another endpoint then served. A request that every tier
fails (a 5xx everywhere) is the request's fault, not any endpoint's: counting it would let a handful of
such requests eject every endpoint of every tier.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Literal, TypeVar

import httpx
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
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
from voxdeploy.contracts.auth import RELOAD_SECONDS
from voxdeploy.contracts.metrics import ROUTER_SELF
from voxdeploy.contracts.model import MODEL_ID
from voxdeploy.contracts.router import RouterSettings, Tier
from voxdeploy.contracts.runtime import LogFormat
from voxdeploy.runtime import service
from voxdeploy.runtime.admission import Admission
from voxdeploy.runtime.app import run_server
from voxdeploy.runtime.auth import OwnKey, caller_name, front_door, upstream_headers
from voxdeploy.runtime.http import (
    ApiError,
    GuardedStream,
    LastResort,
    enter_slot,
    parse_speech,
    read_body,
    routing_error_handlers,
    unless_gone,
)
from voxdeploy.runtime.logs import AccessLog, request_id_headers
from voxdeploy.runtime.router.endpoints import Endpoint, Pools, check_all, watch
from voxdeploy.runtime.router.metrics import RouterMetrics
from voxdeploy.runtime.router.policy import attempt_order, choose_tier, request_profile

log = logging.getLogger("voxdeploy.router")
T = TypeVar("T")

FORWARDED_HEADERS = ("content-type", "accept")
_NOT_RELAYED = frozenset({"connection", "keep-alive", "transfer-encoding", "date", "server"})
"""Hop-by-hop headers, and those the router's own server sets."""


@dataclass(frozen=True)
class Attempt:
    """Something tried for a request and why it did not serve it. Callers see the tier and the outcome; the
    endpoint's URL is an internal address, for the router's log only."""

    tier: Tier
    endpoint: str | None
    outcome: str

    def public(self) -> dict[str, str]:
        return {"tier": self.tier, "outcome": self.outcome}


Blame = Literal["endpoint", "unclear", "none"]
"""Whom a failure counts against: the endpoint at once (it could not be reached or hung), the endpoint only if
another endpoint then serves the same request (an HTTP 5xx, a broken-off or timed-out exchange), or nobody
(429: saturation, not a fault)."""


@dataclass(frozen=True)
class Failure:
    """Why an endpoint did not serve a request, in words a caller may read, and whom it counts against."""

    outcome: str
    blame: Blame


class _Hung(Exception):
    """An endpoint showed no sign of life for the first-byte timeout while a request waited on it."""


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
            tried = "; ".join(f"{a.tier}: {a.outcome}" for a in attempts)
            message = f"no tier could serve the request (tried {tried}); retry shortly"
        else:
            message = f"no endpoints are configured for the {tier} tier or the tiers it falls back to"
        super().__init__(503, message, None, "upstream_unavailable", retry_after)
        self.attempts = attempts

    def error(self) -> dict[str, object]:
        return {**super().error(), "attempts": [attempt.public() for attempt in self.attempts]}


def _replaying(request: Request, body: bytes) -> Request:
    """The request again with its body already read, so the runtime's parser can check what is forwarded."""
    messages = iter([{"type": "http.request", "body": body, "more_body": False}])

    async def receive() -> Message:
        return next(messages, {"type": "http.disconnect"})

    return Request(request.scope, receive)


def _describe(err: httpx.TransportError) -> str:
    """The error as the router's log gives it (httpx's text may hold addresses; callers get `_failure`'s)."""
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
        reload = RELOAD_SECONDS if settings.auth is None else settings.auth.reload_seconds
        self.own_key = None if settings.upstream_key is None else OwnKey(settings.upstream_key, reload)
        self._watcher: asyncio.Task[None] | None = None

    def count_refused(self, status: int) -> None:
        self.metrics.count_request(ROUTER_SELF, status)

    def drain(self) -> None:
        """/ready turns 503 so endpoints drop the router; requests are still served through the drain delay."""
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
        policy = self.settings.policy
        profile = request_profile(speech, reference is not None, request.headers, policy.plain_voices)
        tier = choose_tier(profile, policy)
        return tier, attempt_order(tier, policy, self.pools.tiers), body

    async def _answer(self, request: Request, tier: Tier, order: list[Tier], body: bytes) -> Response:
        """The first good upstream answer, relayed; queueing and every attempt together get the request timeout,
        and a client that leaves cancels the upstream request."""
        timeout = self.settings.server.request_timeout_seconds
        timed_out = ApiError(504, f"no tier answered within {timeout:g} s", None, "timeout")
        upstream, slot = await unless_gone(
            request, self._admitted(tier, order, body, self._forwarded(request)), timeout, timed_out
        )
        return self._relay(upstream, slot)

    def _forwarded(self, request: Request) -> dict[str, str]:
        """The headers a tier gets: the body's type and what is accepted, the request id, and the router's own key
        with the caller's key name (the caller's key itself never leaves the router)."""
        headers = request.headers
        kept = {name: headers[name] for name in FORWARDED_HEADERS if name in headers}
        return kept | request_id_headers() | upstream_headers(self.own_key, caller_name(request.scope))

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
        """Each tier's available endpoints in turn, tier after tier; the first answer that is not a failure wins.

        Failures the request may be to blame for are counted against their endpoints only once another endpoint
        has served it (2xx/3xx): then they were the endpoints' own."""
        attempts: list[Attempt] = []
        unclear: list[Endpoint] = []
        for index, current in enumerate(order):
            if index:
                self.metrics.count_fallback(order[index - 1], current)
            candidates = self.pools.candidates(current)
            if not candidates:
                attempts.append(Attempt(current, None, "no endpoint ready"))
            for endpoint in candidates:
                started = time.perf_counter()
                outcome = await self._try(endpoint, body, headers)
                if isinstance(outcome, httpx.Response):
                    if outcome.status_code < 400:
                        for failed in unclear:
                            self.pools.failed(failed)
                    return Upstream(outcome, endpoint, index, started)
                if outcome.blame == "unclear":
                    unclear.append(endpoint)
                attempts.append(Attempt(current, endpoint.url, outcome.outcome))
        log.warning(
            "no tier could serve a request: %s",
            "; ".join(f"{a.tier} {a.endpoint or '(none ready)'}: {a.outcome}" for a in attempts),
        )
        raise Exhausted(tier, attempts, retry_after=self.settings.health.interval_seconds)

    async def _try(self, endpoint: Endpoint, body: bytes, headers: Mapping[str, str]) -> httpx.Response | Failure:
        """The endpoint's answer, or why it is a failure. 429 is saturation, not a fault: it moves the request
        on without counting towards ejection, and so does a 401 (the tier refused the router's own key: the caller's
        was checked here). Any other 4xx is the request's fault and is the answer."""
        settings = self.settings
        limit = settings.tier_timeout_seconds.get(endpoint.tier, settings.server.request_timeout_seconds)
        timeout = httpx.Timeout(limit, connect=min(limit, settings.connect_timeout_seconds))
        request = self.client.build_request(
            "POST", endpoint.url + SPEECH_PATH, content=body, headers=headers, timeout=timeout
        )
        try:
            # however long a live endpoint takes: a whole-file answer's headers come after synthesis
            response = await self._unless_hung(endpoint, self.client.send(request, stream=True))
        except _Hung:
            self.pools.hung(endpoint, settings.first_byte_timeout_seconds)
            return Failure(
                f"hung: no answer, to this request or to health checks, for {settings.first_byte_timeout_seconds:g} s",
                "endpoint",
            )
        except httpx.TransportError as err:
            failure = _failure(err, timeout)
            if failure.blame == "endpoint":
                self.pools.failed(endpoint)
            log.info("%s endpoint %s failed a request: %s", endpoint.tier, endpoint.url, _describe(err))
            return failure
        self.pools.answered(endpoint)
        status = response.status_code
        if status == 401:
            # the router's own key, not the caller's (checked here already): a setting to fix, not the request
            await response.aclose()
            log.error("%s endpoint %s refused the router's own key (upstreamKey): 401", endpoint.tier, endpoint.url)
            return Failure("refused the router's own key", "none")
        if status == 429 or status >= 500:
            await response.aclose()
            return Failure(f"HTTP {status}", "none" if status == 429 else "unclear")
        self.pools.succeeded(endpoint)
        return response

    async def _unless_hung(self, endpoint: Endpoint, work: Awaitable[T]) -> T:
        """The result of `work` (a wait on the endpoint); _Hung once the endpoint has answered nothing, to this
        request, another or a health check, for the first-byte timeout. Work given up on is cancelled, and an
        HTTP answer that arrived meanwhile closed."""
        quiet = self.settings.first_byte_timeout_seconds
        waiting = asyncio.ensure_future(work)
        started = self.pools.now()
        try:
            while True:
                left = max(started, endpoint.answered_at) + quiet - self.pools.now()
                if left <= 0:
                    raise _Hung
                done, _ = await asyncio.wait({waiting}, timeout=left)
                if done:
                    return waiting.result()
        except BaseException:
            waiting.cancel()
            await asyncio.wait({waiting})
            if not waiting.cancelled() and waiting.exception() is None:
                late = waiting.result()
                if isinstance(late, httpx.Response):
                    await late.aclose()
            raise

    def _relay(self, upstream: Upstream, slot: AbstractAsyncContextManager[None]) -> Response:
        """Stream the upstream body through as it arrives; a break mid-way breaks the client's response too
        (it cannot be retried once audio went out, and a clean end would pass truncated audio off as whole), and
        so does an endpoint that hangs mid-way, after the first-byte timeout rather than the tier's."""
        response, tier = upstream.response, upstream.endpoint.tier
        outcome = {"status": 499}

        declared = response.headers.get("content-length", "")
        length = int(declared) if declared.isdigit() else None

        async def body() -> AsyncIterator[bytes]:
            endpoint, chunks, relayed = upstream.endpoint, response.aiter_raw(), 0
            try:
                while (chunk := await self._unless_hung(endpoint, anext(chunks, None))) is not None:
                    self.pools.answered(endpoint)
                    relayed += len(chunk)
                    if relayed == length:
                        # whole once this goes out: the client may leave then, before this generator ends
                        outcome["status"] = response.status_code
                    yield chunk
            except _Hung:
                outcome["status"] = 502
                self.pools.hung(endpoint, self.settings.first_byte_timeout_seconds)
                raise
            except httpx.TransportError as err:
                outcome["status"] = 502
                self.pools.failed(endpoint)
                log.warning("%s endpoint %s broke off a response: %s", tier, endpoint.url, _describe(err))
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


def _failure(err: httpx.TransportError, timeout: httpx.Timeout) -> Failure:
    """What a caller may read about a transport failure (fixed words, no addresses), and whom it counts against:
    not connecting is the endpoint's fault; an exchange that broke off or timed out after the request went out
    may be the request's."""
    if isinstance(err, httpx.ConnectTimeout):
        return Failure(f"could not connect within {timeout.connect:g} s", "endpoint")
    if isinstance(err, httpx.ConnectError):
        return Failure("could not connect", "endpoint")
    if isinstance(err, httpx.TimeoutException):
        return Failure(f"no answer within the tier's {timeout.read:g} s timeout", "unclear")
    return Failure(f"the exchange broke off ({type(err).__name__})", "unclear")


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
        exception_handlers=routing_error_handlers(),
        middleware=[
            Middleware(AccessLog),
            Middleware(LastResort, on_unhandled=lambda: router.metrics.count_request(ROUTER_SELF, 500)),
            *front_door(router.settings.auth, router.settings.server, router.metrics.auth, router.settings.host),
        ],
        lifespan=service.lifespan(router),
    )


def serve_router(settings: RouterSettings, log_format: LogFormat = "text") -> None:
    router = Router(settings)
    run_server(create_router_app(router), router, settings.host, settings.server, log_format)
