"""The runtime's HTTP face: /v1/audio/speech over any engine, plus /health, /ready, /metrics.

Starlette on uvicorn (httptools, uvloop): measured against the simulator called in-process, see
benchmarks/runtime_overhead.py. Every refusal is an OpenAI-style JSON error naming the field.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

import numpy as np
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from voxdeploy.contracts.api import (
    ENGINE_HEADER,
    HEALTH_PATH,
    METRICS_PATH,
    MODELS_PATH,
    OPENAPI_PATH,
    READY_PATH,
    SAMPLE_RATE_HEADER,
    SPEECH_PATH,
)
from voxdeploy.contracts.runtime import SIMULATOR_ENGINE, RuntimeConfig
from voxdeploy.runtime import encoding, service
from voxdeploy.runtime.admission import Admission
from voxdeploy.runtime.api import SpeechRequest
from voxdeploy.runtime.auth import front_door
from voxdeploy.runtime.engine_metrics import SCRAPE_TIMEOUT_HEADER
from voxdeploy.runtime.engines.base import Engine, EngineError, Synthesis
from voxdeploy.runtime.http import (
    ApiError,
    GuardedStream,
    LastResort,
    enter_slot,
    parse_speech,
    routing_error_handlers,
    unless_gone,
)
from voxdeploy.runtime.logs import AccessLog, report_audio
from voxdeploy.runtime.metrics import RuntimeMetrics
from voxdeploy.runtime.openapi import openapi_spec
from voxdeploy.runtime.protocol import BODY_TIMED_OUT
from voxdeploy.runtime.speech_events import SSE_MEDIA_TYPE, SpeechEvents
from voxdeploy.runtime.synthesis import Timing, synthesize
from voxdeploy.runtime.voices.library import VoiceLibrary, load_reference
from voxdeploy.runtime.voices.routes import voice_routes
from voxdeploy.runtime.voices.store import open_store

log = logging.getLogger("voxdeploy.server")

NEUTRAL_VALUES: dict[str, object] = {"speed": 1.0, "normalize": False, "denoise": False}
"""Values of optional fields that ask for nothing, so an engine without the feature can still take them."""


class Runtime:
    """State shared by the handlers of one server: engine, limits, metrics, draining flag."""

    def __init__(self, config: RuntimeConfig, engine: Engine) -> None:
        self.config = config
        self.engine = engine
        self.draining = False
        server = config.server
        limit = min(server.max_concurrent_requests, engine.max_concurrency or server.max_concurrent_requests)
        self.admission = Admission(limit, server.max_queued_requests)
        self.metrics = RuntimeMetrics(engine.name, engine, self.admission, server.max_queued_requests)
        store = None if config.voices.store is None else open_store(config.voices.store)
        self.voices = VoiceLibrary(config.voices, store, config.speech.max_reference_seconds)

    @property
    def fade_samples(self) -> int:
        return round(self.config.speech.crossfade_ms / 1000 * self.engine.sample_rate)

    def count_refused(self, status: int) -> None:
        self.metrics.count_request(status)

    def drain(self) -> None:
        self.draining = True

    async def start(self) -> None:
        await self.engine.start()

    async def close(self) -> None:
        await self.engine.stop()
        if self.voices.store is not None:
            await self.voices.store.close()


def check_against_engine(speech: SpeechRequest, runtime: Runtime, has_reference_file: bool) -> None:
    """Refuse what this engine cannot do, rather than silently ignore it."""
    engine = runtime.engine
    if len(speech.input) > runtime.config.speech.max_input_chars:
        raise ApiError(
            400,
            f"input is {len(speech.input)} characters; the limit is {runtime.config.speech.max_input_chars}",
            "input",
        )
    for field in sorted(engine.unsupported_fields):
        value = getattr(speech, field)
        if value is not None and value != NEUTRAL_VALUES.get(field):
            raise ApiError(400, f"{field} {value!r} is not supported by the {engine.name} engine; omit it", field)
    if speech.ref_text is not None and speech.ref_audio is None and not has_reference_file:
        raise ApiError(400, "ref_text is the transcript of ref_audio; send ref_audio with it", "ref_text")


def check_model(model: str | None, runtime: Runtime) -> None:
    """OpenAI's answer to a model it does not serve: 404, code model_not_found."""
    served = [runtime.engine.model_id, *runtime.config.speech.model_aliases]
    if model is not None and model not in served:
        raise ApiError(
            404,
            f"The model `{model}` does not exist or you do not have access to it; this server serves "
            f"{', '.join(served)} (GET /v1/models)",
            "model",
            "invalid_request_error",
            code="model_not_found",
        )


@dataclass(frozen=True)
class Delivery:
    """How one answer is sent: its format and rate, streamed or whole, raw bytes or server-sent events."""

    format: str
    rate: int
    streamed: bool
    events: bool

    @property
    def headers(self) -> dict[str, str]:
        return {SAMPLE_RATE_HEADER: str(self.rate)}


def delivery(speech: SpeechRequest, runtime: Runtime) -> Delivery:
    fmt = speech.response_format or runtime.config.speech.default_format
    rate = speech.sample_rate or runtime.config.speech.sample_rate
    try:
        encoding.check_rate(fmt, rate)
    except encoding.UnsupportedRate as err:
        raise ApiError(400, f"sample_rate: {err}", "sample_rate") from None
    return Delivery(fmt, rate, speech.streaming, speech.events)


async def voiced(speech: SpeechRequest, reference: bytes | None, runtime: Runtime) -> Synthesis:
    """The engine call for a request: its voice resolved, the voice's conditioning merged with the request's."""
    voice = await runtime.voices.resolve(speech.voice_name)
    inline = None
    if reference is not None:
        if voice.reference is not None:
            raise ApiError(
                400, f"voice {voice.name!r} clones a reference already; send ref_audio without it", "ref_audio"
            )
        inline = load_reference(reference, speech.ref_text, runtime.config.speech.max_reference_seconds, "ref_audio")
    if voice.lora is not None and not runtime.engine.serves_lora:
        raise ApiError(
            400, f"voice {voice.name!r} is a LoRA voice, which the {runtime.engine.name} engine cannot serve", "voice"
        )
    design = ", ".join(part for part in (voice.description, speech.instructions) if part) or None
    return Synthesis(
        text=speech.input,
        voice=voice.id,
        speed=speech.speed,
        seed=speech.seed,
        cfg_value=speech.cfg_value,
        inference_timesteps=speech.inference_timesteps,
        normalize=speech.normalize,
        denoise=speech.denoise,
        instructions=design,
        language=speech.language,
        task_type=speech.task_type,
        max_new_tokens=speech.max_new_tokens,
        reference=inline or voice.reference,
        lora=voice.lora,
        extra_params=speech.extra_params or {},
    )


Started = tuple[AbstractAsyncContextManager[None], AsyncGenerator[np.ndarray], np.ndarray | None]
"""A stream under way: its held admission slot, the synthesis generator, its first chunk (None: no audio)."""


def _engine_error(err: EngineError) -> ApiError:
    return ApiError(err.status, err.message, err.param, err.error_type, getattr(err, "retry_after", None))


class SpeechHandler:
    """POST /v1/audio/speech."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def handle(self, request: Request) -> Response:
        runtime = self.runtime
        timing = Timing(arrived=time.perf_counter())
        report_audio(request.scope, lambda: timing.audio_seconds(runtime.engine.sample_rate))
        try:
            speech, ref_bytes = await parse_speech(request, runtime.config.speech.max_body_bytes)
            check_model(speech.model, runtime)
            check_against_engine(speech, runtime, ref_bytes is not None)
            how = delivery(speech, runtime)
            synthesis = await voiced(speech, ref_bytes, runtime)
            if not runtime.engine.ready:
                reason = runtime.engine.problem or "loading or restarting"
                raise ApiError(
                    503,
                    f"the {runtime.engine.name} engine is not ready ({reason}); retry shortly",
                    None,
                    "engine_unavailable",
                    retry_after=5,
                )
            if how.streamed:
                return await self._stream(request, how, synthesis, timing)
            return self._finish(await self._whole(request, how, synthesis, timing), timing)
        except ApiError as err:
            return self._finish(err.response(), timing)
        except ClientDisconnect:
            # no one reads this answer; the status is what the metrics record: 408 if the server cut off a late body
            timed_out = BODY_TIMED_OUT in request.scope.get("extensions", {})
            return self._finish(Response(status_code=408 if timed_out else 499), timing)

    def _finish(self, response: Response, timing: Timing) -> Response:
        runtime = self.runtime
        runtime.metrics.count_request(response.status_code)
        runtime.metrics.latency.observe(time.perf_counter() - timing.arrived)
        if response.status_code == 200:
            self._observe_audio(timing)
        response.headers[ENGINE_HEADER] = runtime.engine.name
        return response

    def _observe_audio(self, timing: Timing) -> None:
        metrics, rate = self.runtime.metrics, self.runtime.engine.sample_rate
        metrics.audio_seconds.inc(timing.audio_seconds(rate))
        if timing.first_audio is not None:
            metrics.time_to_first_audio.observe(timing.first_audio - timing.arrived)
        rtf = timing.real_time_factor(rate)
        if rtf is not None:
            metrics.real_time_factor.observe(rtf)

    def _synthesize(self, synthesis: Synthesis, timing: Timing) -> AsyncGenerator[np.ndarray]:
        speech = self.runtime.config.speech
        return synthesize(self.runtime.engine, synthesis, speech.split_chars, self.runtime.fade_samples, timing)

    async def _collect(self, synthesis: Synthesis, timing: Timing) -> np.ndarray:
        chunks = []
        slot = await enter_slot(self.runtime.admission)
        try:
            async for chunk in self._synthesize(synthesis, timing):
                chunks.append(chunk)
        except EngineError as err:
            raise _engine_error(err) from None
        finally:
            await slot.__aexit__(None, None, None)
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)

    async def _whole(self, request: Request, how: Delivery, synthesis: Synthesis, timing: Timing) -> Response:
        """Generate all, then answer: errors keep their status codes; a disconnect cancels the work."""
        timeout = self.runtime.config.server.request_timeout_seconds
        timed_out = ApiError(504, f"synthesis took longer than {timeout:g} s", None, "timeout")
        try:
            samples = await unless_gone(request, self._collect(synthesis, timing), timeout, timed_out)
        except ClientDisconnect:
            log.info("client disconnected; synthesis cancelled")
            return Response(status_code=499)
        body = encoding.encode(samples, self.runtime.engine.sample_rate, how.format, how.rate)
        return Response(body, media_type=encoding.FORMATS[how.format].content_type, headers=how.headers)

    async def _stream(self, request: Request, how: Delivery, synthesis: Synthesis, timing: Timing) -> Response:
        """Audio as it is made; the first chunk is awaited before answering so early errors keep their status.
        Waiting for a slot and for the first chunk together get the request timeout, and end if the client leaves."""
        runtime = self.runtime
        timeout = runtime.config.server.request_timeout_seconds
        timed_out = ApiError(504, f"no audio within the request timeout ({timeout:g} s)", None, "timeout")

        async def first_audio() -> Started:
            slot = await enter_slot(runtime.admission)
            chunks = self._synthesize(synthesis, timing)
            try:
                return slot, chunks, await anext(chunks, None)
            except BaseException as err:
                await chunks.aclose()
                await slot.__aexit__(None, None, None)
                if isinstance(err, EngineError):
                    raise _engine_error(err) from None
                raise

        try:
            slot, chunks, first = await unless_gone(request, first_audio(), timeout, timed_out)
        except ClientDisconnect:
            log.info("client disconnected before the first audio; synthesis cancelled")
            raise
        encoder = encoding.Encoder(how.format, runtime.engine.sample_rate, how.rate)
        events = SpeechEvents(how.format) if how.events else None
        outcome = {"status": 200}

        async def body() -> AsyncIterator[bytes]:
            try:
                chunk = first
                while chunk is not None:
                    data = encoder.push(chunk)
                    if data:
                        yield events.delta(data) if events else data
                    chunk = await anext(chunks, None)
                data = encoder.finish()
                if events:
                    tail = events.delta(data) if data else b""
                    yield tail + events.done(synthesis.text, timing, runtime.engine.sample_rate)
                elif data:
                    yield data
            except EngineError as err:
                outcome["status"] = err.status
                log.warning("stream aborted: %s", err.message)
                if events:
                    yield events.error(err)
            except Exception:
                outcome["status"] = 500  # uvicorn logs it and breaks the response off: truncated audio is no answer
                raise

        async def cleanup(completed: bool) -> None:
            """Runs once whether the stream finished, failed, or the client left before it started."""
            encoder.close()
            await chunks.aclose()
            await slot.__aexit__(None, None, None)
            status = outcome["status"] if completed or outcome["status"] != 200 else 499
            runtime.metrics.count_request(status)
            runtime.metrics.latency.observe(time.perf_counter() - timing.arrived)
            if status == 200:
                self._observe_audio(timing)

        media = SSE_MEDIA_TYPE if events else encoding.FORMATS[how.format].content_type
        headers = {ENGINE_HEADER: runtime.engine.name, **how.headers}
        return GuardedStream(body(), cleanup, media_type=media, headers=headers)


def create_app(config: RuntimeConfig, engine: Engine) -> Starlette:
    """The ASGI app over a fresh Runtime; see runtime_app."""
    return runtime_app(Runtime(config, engine))


def runtime_app(runtime: Runtime) -> Starlette:
    """The ASGI app; the engine starts with the app and stops after in-flight requests drained."""
    engine = runtime.engine

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def ready(_: Request) -> Response:
        if runtime.draining:
            return JSONResponse({"status": "draining"}, status_code=503)
        if not engine.ready:
            body = {"status": "failed" if engine.problem else "loading", "engine": engine.name}
            if engine.problem:
                body["problem"] = engine.problem
            return JSONResponse(body, status_code=503)
        return JSONResponse({"status": "ready", "engine": engine.name})

    async def metrics(request: Request) -> Response:
        if runtime.metrics.engine_own is not None:
            await runtime.metrics.engine_own.refresh(request.headers.get(SCRAPE_TIMEOUT_HEADER))
        return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def models(_: Request) -> Response:
        entry = {
            "id": engine.model_id,
            "object": "model",
            "owned_by": "voxdeploy",
            "engine": engine.name,
            "sample_rate": engine.sample_rate,
            "simulated": engine.name == SIMULATOR_ENGINE,
        }
        return JSONResponse({"object": "list", "data": [entry]})

    async def openapi(_: Request) -> Response:
        return JSONResponse(openapi_spec())

    return Starlette(
        routes=[
            Route(HEALTH_PATH, health),
            Route(READY_PATH, ready),
            Route(METRICS_PATH, metrics),
            Route(MODELS_PATH, models),
            Route(SPEECH_PATH, SpeechHandler(runtime).handle, methods=["POST"]),
            *voice_routes(runtime.voices, runtime.config.auth, runtime.config.speech.max_body_bytes),
            Route(OPENAPI_PATH, openapi),
        ],
        exception_handlers=routing_error_handlers(),
        middleware=[
            Middleware(AccessLog),
            Middleware(LastResort, on_unhandled=lambda: runtime.metrics.count_request(500)),
            *front_door(runtime.config.auth, runtime.config.server, runtime.metrics.auth, runtime.config.host),
        ],
        lifespan=service.lifespan(runtime),
    )
