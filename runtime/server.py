"""The runtime's HTTP face: /v1/audio/speech over any engine, plus /health, /ready, /metrics.

Starlette on uvicorn (httptools, uvloop): measured against the simulator called in-process, see
benchmarks/runtime_overhead.py. Every refusal is an OpenAI-style JSON error naming the field.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

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
    SPEECH_PATH,
)
from voxdeploy.contracts.runtime import RuntimeConfig
from voxdeploy.contracts.version import VERSION
from voxdeploy.runtime import audio, service
from voxdeploy.runtime.admission import Admission
from voxdeploy.runtime.api import MULTIPART_TEXT_FIELDS, SpeechRequest
from voxdeploy.runtime.auth import front_door
from voxdeploy.runtime.engine_metrics import SCRAPE_TIMEOUT_HEADER
from voxdeploy.runtime.engines.base import Engine, EngineError, ReferenceAudio, Synthesis
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
from voxdeploy.runtime.protocol import BODY_TIMED_OUT
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
            check_against_engine(speech, runtime, ref_bytes is not None)
            synthesis = to_synthesis(speech, reference_audio(ref_bytes, speech.ref_text, runtime))
            if not runtime.engine.ready:
                reason = runtime.engine.problem or "loading or restarting"
                raise ApiError(
                    503,
                    f"the {runtime.engine.name} engine is not ready ({reason}); retry shortly",
                    None,
                    "engine_unavailable",
                    retry_after=5,
                )
            if speech.streaming:
                return await self._stream(request, speech, synthesis, timing)
            return self._finish(await self._whole(request, speech, synthesis, timing), timing)
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

    async def _stream(self, request: Request, speech: SpeechRequest, synthesis: Synthesis, timing: Timing) -> Response:
        """Audio as it is made; the first chunk is awaited before answering so early errors keep their status.
        Waiting for a slot and for the first chunk together get the request timeout, and end if the client leaves."""
        runtime = self.runtime
        timeout = runtime.config.server.request_timeout_seconds
        timed_out = ApiError(504, f"no audio within the request timeout ({timeout:g} s)", None, "timeout")

        async def first_audio() -> Started:
            slot = await enter_slot(runtime.admission)
            chunks = synthesize(
                runtime.engine, synthesis, runtime.config.speech.split_chars, runtime.fade_samples, timing
            )
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
            except Exception:
                outcome["status"] = 500  # uvicorn logs it and breaks the response off: truncated audio is no answer
                raise

        async def cleanup(completed: bool) -> None:
            """Runs once whether the stream finished, failed, or the client left before it started."""
            await chunks.aclose()
            await slot.__aexit__(None, None, None)
            status = outcome["status"] if completed or outcome["status"] != 200 else 499
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


ERROR_SCHEMA: dict[str, object] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string", "description": "What is wrong, for a person."},
                "type": {"type": "string", "description": "invalid_request_error, rate_limit_exceeded, timeout, ..."},
                "param": {"type": ["string", "null"], "description": "The field or header at fault, if one is."},
                "code": {
                    "type": ["integer", "string", "null"],
                    "description": "The HTTP status; on a 401, OpenAI's code invalid_api_key.",
                },
            },
        }
    },
}
ERRORS = {
    400: "invalid request: the message names the field",
    401: "no API key, or one that matches none (servers with auth): send Authorization: Bearer <key>",
    408: "the request head or body did not arrive in time",
    413: "request body over speech.maxBodyBytes",
    415: "neither application/json nor multipart/form-data",
    429: "every slot and queue place taken, or the key's own share (auth.maxConcurrentPerKey); see Retry-After",
    431: "request head over server.maxHeaderBytes or server.maxHeaderCount fields",
    500: "engine or server failure",
    502: "the engine process answered badly",
    503: "engine loading, restarting or failed; see Retry-After",
    504: "no audio within server.requestTimeoutSeconds",
}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}}
SSE_DESCRIPTION = (
    "stream=true (or stream_format=sse): server-sent events, each `event: <type>` and `data: <JSON>`: "
    "speech.audio.delta (`audio`: base64 16-bit PCM of the next chunk, `response_format`), then speech.audio.done, "
    "or speech.audio.error (`error`: message, type, code) if the engine fails mid-way."
)
SSE_EVENT_SCHEMA: dict[str, object] = {
    "description": "One event of the stream (OpenAPI 3.1: the schema of an event stream is that of each event).",
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"enum": ["speech.audio.delta", "speech.audio.done", "speech.audio.error"]},
        "data": {"type": "string", "contentMediaType": "application/json"},
    },
}
MULTIPART_DESCRIPTION = (
    "The same fields as parts. Text fields are the part as sent; numbers, booleans and extra_params are JSON "
    "text (speed=1.5, stream=true, extra_params={...}), as OpenAPI serializes them; voice is a name, or a JSON "
    "object when the part starts with `{`. ref_audio may be a file part (WAV, FLAC or OGG) instead of base64."
)


def _json(
    schema: Mapping[str, object], description: str, headers: Mapping[str, object] | None = None
) -> dict[str, object]:
    response: dict[str, object] = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


def _multipart_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The request schema as multipart parts carry it: a text field cannot be null there (a part holding `null`
    is the text "null"; leaving the part out leaves the field unset)."""
    properties: dict[str, Any] = {}
    for name, field in schema["properties"].items():
        members = field.get("anyOf", [])
        if name in MULTIPART_TEXT_FIELDS and {"type": "null"} in members:
            rest = [member for member in members if member != {"type": "null"}]
            field = {key: value for key, value in field.items() if key not in ("anyOf", "default")}
            field.update(rest[0] if len(rest) == 1 else {"anyOf": rest})
        properties[name] = field
    return {**schema, "title": "SpeechRequestForm", "properties": properties}


def openapi_spec() -> dict[str, object]:
    """OpenAPI 3.1 description of what the runtime serves, from the request model (for schemathesis and users);
    every $ref resolves inside the document (the model's $defs are its components)."""
    request_schema = SpeechRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas: dict[str, object] = {
        **request_schema.pop("$defs", {}),
        "SpeechRequest": request_schema,
        "SpeechRequestForm": _multipart_schema(request_schema),
    }
    schemas["Error"] = ERROR_SCHEMA
    error_ref = {"$ref": "#/components/schemas/Error"}
    binary = {"schema": {"type": "string", "format": "binary"}}
    status = {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}}
    speech_errors = {
        str(code): _json(error_ref, text, RETRY_AFTER if code in (429, 503) else None) for code, text in ERRORS.items()
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "voxdeploy speech runtime", "version": VERSION},
        "paths": {
            SPEECH_PATH: {
                "post": {
                    "operationId": "createSpeech",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/SpeechRequest"}},
                            "multipart/form-data": {
                                "schema": {"$ref": "#/components/schemas/SpeechRequestForm"},
                                "encoding": {"extra_params": {"contentType": "application/json"}},
                            },
                        },
                        "description": MULTIPART_DESCRIPTION,
                    },
                    "responses": {
                        "200": {
                            "description": "The audio: whole, or streamed as it is made (stream, stream_format). "
                            "stream_format=audio sends raw bytes of the response_format (wav with an open-ended "
                            "header, or pcm). " + SSE_DESCRIPTION,
                            "headers": {
                                ENGINE_HEADER: {"description": "The engine kind.", "schema": {"type": "string"}}
                            },
                            "content": {
                                **{media: binary for media in audio.CONTENT_TYPES.values()},
                                "text/event-stream": {"schema": SSE_EVENT_SCHEMA},
                            },
                        },
                        **speech_errors,
                    },
                }
            },
            HEALTH_PATH: {"get": {"operationId": "health", "responses": {"200": _json(status, "alive")}}},
            READY_PATH: {
                "get": {
                    "operationId": "ready",
                    "responses": {"200": _json(status, "ready"), "503": _json(status, "loading, failed or draining")},
                }
            },
            MODELS_PATH: {
                "get": {
                    "operationId": "listModels",
                    "responses": {"200": _json({"type": "object", "required": ["data"]}, "the one model served")},
                }
            },
            METRICS_PATH: {
                "get": {
                    "operationId": "metrics",
                    "responses": {
                        "200": {
                            "description": "Prometheus text format",
                            "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
        },
        "components": {"schemas": schemas},
    }
