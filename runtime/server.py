"""The runtime's HTTP face: /v1/audio/speech over any engine, plus /health, /ready, /metrics.

Starlette on uvicorn (httptools, uvloop): measured against the simulator called in-process, see
benchmarks/runtime_overhead.py. Every refusal is an OpenAI-style JSON error naming the field.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping

import numpy as np
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from voxdeploy.contracts.api import ENGINE_HEADER, HEALTH_PATH, METRICS_PATH, MODELS_PATH, READY_PATH, SPEECH_PATH
from voxdeploy.contracts.runtime import RuntimeConfig
from voxdeploy.contracts.version import VERSION
from voxdeploy.runtime import audio, service
from voxdeploy.runtime.admission import Admission
from voxdeploy.runtime.api import SpeechRequest
from voxdeploy.runtime.engine_metrics import SCRAPE_TIMEOUT_HEADER
from voxdeploy.runtime.engines.base import Engine, EngineError, ReferenceAudio, Synthesis
from voxdeploy.runtime.http import ApiError, GuardedStream, enter_slot, parse_speech, unless_gone
from voxdeploy.runtime.metrics import RuntimeMetrics
from voxdeploy.runtime.synthesis import Timing, synthesize

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

    @property
    def fade_samples(self) -> int:
        return round(self.config.speech.crossfade_ms / 1000 * self.engine.sample_rate)

    def drain(self) -> None:
        self.draining = True

    async def start(self) -> None:
        await self.engine.start()

    async def close(self) -> None:
        await self.engine.stop()


def reference_audio(data: bytes | None, transcript: str | None, runtime: Runtime) -> ReferenceAudio | None:
    if data is None:
        return None
    try:
        samples, rate = audio.decode_audio(data)
    except audio.AudioDecodeError as err:
        raise ApiError(400, f"ref_audio: {err}", "ref_audio") from None
    seconds = len(samples) / rate
    longest = runtime.config.speech.max_reference_seconds
    if not 0.5 <= seconds <= longest:
        raise ApiError(400, f"ref_audio is {seconds:.2f} s long; it must be 0.5 to {longest:g} s", "ref_audio")
    return ReferenceAudio(samples, rate, audio.encode(samples, rate, "wav"), transcript)


def check_against_engine(speech: SpeechRequest, runtime: Runtime, has_reference_file: bool) -> None:
    """Refuse what this engine cannot do, rather than silently ignore it."""
    engine = runtime.engine
    if len(speech.input) > runtime.config.speech.max_input_chars:
        raise ApiError(
            400,
            f"input is {len(speech.input)} characters; the limit is {runtime.config.speech.max_input_chars}",
            "input",
        )
    if speech.sample_rate is not None and speech.sample_rate != engine.sample_rate:
        raise ApiError(
            400,
            f"sample_rate {speech.sample_rate} is not available; {engine.name} produces "
            f"{engine.sample_rate} Hz (omit sample_rate)",
            "sample_rate",
        )
    for field in sorted(engine.unsupported_fields):
        value = getattr(speech, field)
        if value is not None and value != NEUTRAL_VALUES.get(field):
            raise ApiError(400, f"{field} {value!r} is not supported by the {engine.name} engine; omit it", field)
    if speech.ref_text is not None and speech.ref_audio is None and not has_reference_file:
        raise ApiError(400, "ref_text is the transcript of ref_audio; send ref_audio with it", "ref_text")
    if speech.streaming and speech.response_format == "flac":
        raise ApiError(400, "streaming needs response_format wav or pcm", "response_format")


def to_synthesis(speech: SpeechRequest, reference: ReferenceAudio | None) -> Synthesis:
    return Synthesis(
        text=speech.input,
        voice=speech.voice_name,
        speed=speech.speed,
        seed=speech.seed,
        cfg_value=speech.cfg_value,
        inference_timesteps=speech.inference_timesteps,
        normalize=speech.normalize,
        denoise=speech.denoise,
        instructions=speech.instructions,
        language=speech.language,
        task_type=speech.task_type,
        max_new_tokens=speech.max_new_tokens,
        reference=reference,
        extra_params=speech.extra_params or {},
    )


def _engine_error(err: EngineError) -> ApiError:
    return ApiError(err.status, err.message, err.param, err.error_type, getattr(err, "retry_after", None))


class SpeechHandler:
    """POST /v1/audio/speech."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def handle(self, request: Request) -> Response:
        runtime = self.runtime
        timing = Timing(arrived=time.perf_counter())
        try:
            speech, ref_bytes = await parse_speech(request, runtime.config.speech.max_body_bytes)
            check_against_engine(speech, runtime, ref_bytes is not None)
            synthesis = to_synthesis(speech, reference_audio(ref_bytes, speech.ref_text, runtime))
            if runtime.draining or not runtime.engine.ready:
                reason = "draining" if runtime.draining else runtime.engine.problem or "loading or restarting"
                raise ApiError(
                    503,
                    f"the {runtime.engine.name} engine is not ready ({reason}); retry shortly",
                    None,
                    "engine_unavailable",
                    retry_after=5,
                )
            if speech.streaming:
                return await self._stream(speech, synthesis, timing)
            return self._finish(await self._whole(request, speech, synthesis, timing), timing)
        except ApiError as err:
            return self._finish(err.response(), timing)
        except ClientDisconnect:
            return self._finish(Response(status_code=499), timing)

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

    async def _collect(self, synthesis: Synthesis, timing: Timing) -> np.ndarray:
        runtime = self.runtime
        chunks = []
        slot = await enter_slot(runtime.admission)
        try:
            async for chunk in synthesize(
                runtime.engine, synthesis, runtime.config.speech.split_chars, runtime.fade_samples, timing
            ):
                chunks.append(chunk)
        except EngineError as err:
            raise _engine_error(err) from None
        finally:
            await slot.__aexit__(None, None, None)
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)

    async def _whole(self, request: Request, speech: SpeechRequest, synthesis: Synthesis, timing: Timing) -> Response:
        """Generate all, then answer: errors keep their status codes; a disconnect cancels the work."""
        timeout = self.runtime.config.server.request_timeout_seconds
        timed_out = ApiError(504, f"synthesis took longer than {timeout:g} s", None, "timeout")
        try:
            samples = await unless_gone(request, self._collect(synthesis, timing), timeout, timed_out)
        except ClientDisconnect:
            log.info("client disconnected; synthesis cancelled")
            return Response(status_code=499)
        body = audio.encode(samples, self.runtime.engine.sample_rate, speech.response_format)
        return Response(body, media_type=audio.CONTENT_TYPES[speech.response_format])

    async def _stream(self, speech: SpeechRequest, synthesis: Synthesis, timing: Timing) -> Response:
        """Audio as it is made; the first chunk is awaited before answering so early errors keep their status."""
        runtime = self.runtime
        slot = await enter_slot(runtime.admission)
        chunks = synthesize(runtime.engine, synthesis, runtime.config.speech.split_chars, runtime.fade_samples, timing)
        try:
            first = await asyncio.wait_for(anext(chunks, None), runtime.config.server.request_timeout_seconds)
        except BaseException as err:
            await chunks.aclose()
            await slot.__aexit__(None, None, None)
            if isinstance(err, EngineError):
                raise _engine_error(err) from None
            if isinstance(err, TimeoutError):
                raise ApiError(504, "no audio before the request timeout", None, "timeout") from None
            raise
        rate = runtime.engine.sample_rate
        sse = speech.stream_format == "sse" or (speech.stream_format is None and speech.stream)
        fmt = speech.response_format
        outcome = {"status": 200}

        async def body() -> AsyncIterator[bytes]:
            try:
                if not sse and fmt == "wav":
                    yield audio.wav_header(rate, None)
                chunk = first
                while chunk is not None:
                    yield _sse_delta(chunk, fmt) if sse else audio.to_pcm16(chunk)
                    chunk = await anext(chunks, None)
                if sse:
                    yield _sse_event("speech.audio.done", {"type": "speech.audio.done"})
            except EngineError as err:
                outcome["status"] = err.status
                log.warning("stream aborted: %s", err.message)
                if sse:
                    yield _sse_event(
                        "speech.audio.error",
                        {
                            "type": "speech.audio.error",
                            "error": {"message": err.message, "type": err.error_type, "code": err.status},
                        },
                    )

        async def cleanup(completed: bool) -> None:
            """Runs once whether the stream finished, failed, or the client left before it started."""
            await chunks.aclose()
            await slot.__aexit__(None, None, None)
            status = outcome["status"] if completed else 499
            runtime.metrics.count_request(status)
            runtime.metrics.latency.observe(time.perf_counter() - timing.arrived)
            if status == 200:
                self._observe_audio(timing)

        media = "text/event-stream" if sse else audio.CONTENT_TYPES[fmt]
        return GuardedStream(body(), cleanup, media_type=media, headers={ENGINE_HEADER: runtime.engine.name})


def _sse_event(event: str, data: Mapping[str, object]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _sse_delta(chunk: np.ndarray, fmt: str) -> bytes:
    encoded = base64.b64encode(audio.to_pcm16(chunk)).decode("ascii")
    return _sse_event("speech.audio.delta", {"type": "speech.audio.delta", "audio": encoded, "response_format": fmt})


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
            "simulated": engine.name == "sim",
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
            Route("/openapi.json", openapi),
        ],
        lifespan=service.lifespan(runtime),
    )


def openapi_spec() -> dict[str, object]:
    """OpenAPI 3.1 description of the speech endpoint, from the request model (for schemathesis and users)."""
    error = {"type": "object", "properties": {"error": {"type": "object"}}}
    failure = {"description": "error", "content": {"application/json": {"schema": error}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "voxdeploy speech runtime", "version": VERSION},
        "paths": {
            "/v1/audio/speech": {
                "post": {
                    "operationId": "createSpeech",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": SpeechRequest.model_json_schema()}},
                    },
                    "responses": {
                        "200": {
                            "description": "audio",
                            "content": {"audio/wav": {}, "audio/pcm": {}, "audio/flac": {}},
                        },
                        **{str(code): failure for code in (400, 413, 415, 429, 503, 504)},
                    },
                }
            },
            "/health": {"get": {"operationId": "health", "responses": {"200": {"description": "alive"}}}},
            "/ready": {
                "get": {
                    "operationId": "ready",
                    "responses": {"200": {"description": "ready"}, "503": {"description": "not ready"}},
                }
            },
        },
    }
