"""HTTP plumbing shared by the speech runtime (server.py) and the hybrid router (router/app.py).

OpenAI-style JSON errors (also for unknown routes, wrong methods and unhandled exceptions), the body size
limit (chunked bodies included) and the speech request parser (so the router validates exactly as a runtime
does), admission slot entry (no room is a 429), racing work against the client leaving and the request
timeout, and a streaming response that always releases what its request held.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import ASGIApp, ExceptionHandler, Message, Receive, Scope, Send

from voxdeploy.runtime.admission import Admission, QueueFull
from voxdeploy.runtime.api import SpeechRequest, decode_base64_audio, first_error, form_value, parse_json

T = TypeVar("T")

QUEUE_FULL_RETRY_AFTER = 1


class ApiError(Exception):
    """A refusal with its HTTP status, error type and the offending field."""

    def __init__(
        self,
        status: int,
        message: str,
        param: str | None = None,
        error_type: str = "invalid_request_error",
        retry_after: float | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.error_type, self.retry_after = (
            status,
            message,
            param,
            error_type,
            retry_after,
        )
        self.code = code
        """OpenAI's code where it has one for the case (model_not_found, invalid_api_key); else the HTTP status, as
        vLLM's ErrorResponse has it."""
        self.headers = dict(headers or {})

    def error(self) -> dict[str, object]:
        """The `error` object of the JSON body; subclasses add fields here."""
        return {"message": self.message, "type": self.error_type, "param": self.param, "code": self.code or self.status}

    def response(self) -> JSONResponse:
        headers = dict(self.headers)
        if self.retry_after is not None:
            headers["Retry-After"] = str(max(1, round(self.retry_after)))
        return JSONResponse({"error": self.error()}, status_code=self.status, headers=headers)


def routing_error_handlers() -> dict[Any, ExceptionHandler]:
    """Starlette exception handlers for what routing refuses: an unknown route (404) or method (405, with Allow),
    in the OpenAI error shape of every other refusal rather than Starlette's plain text."""

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        path = request.scope["path"][:200]
        headers = dict(exc.headers or {})
        if exc.status_code == 404:
            message = f"no route {request.method} {path}; the API is described at /openapi.json"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {path}; use {headers.get('Allow', 'another method')}"
        else:
            message = exc.detail
        error = ApiError(exc.status_code, message).error()
        return JSONResponse({"error": error}, status_code=exc.status_code, headers=headers)

    return {HTTPException: http_error}


class LastResort:
    """ASGI middleware for an exception nothing handled: counted by `on_unhandled` (so error alerts see it) and
    answered with a JSON 500, then re-raised for uvicorn to log. One that strikes after the response started is
    only re-raised (uvicorn breaks the connection off): a GuardedStream's cleanup records that request's outcome,
    and counting it here too would count it twice (Starlette's handler for Exception runs in both cases)."""

    def __init__(self, app: ASGIApp, on_unhandled: Callable[[], None]) -> None:
        self.app = app
        self.on_unhandled = on_unhandled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception:
            if not started:
                self.on_unhandled()
                failure = ApiError(500, "internal error; the server's log has the details", None, "server_error")
                await failure.response()(scope, receive, send)
            raise


async def enter_slot(admission: Admission) -> AbstractAsyncContextManager[None]:
    """A held admission slot (the caller exits it); no slot and no room to wait is a 429, never a hang."""
    slot = admission.slot()
    try:
        await slot.__aenter__()
    except QueueFull:
        raise ApiError(
            429,
            "too many requests in flight and queued; retry shortly",
            None,
            "rate_limit_exceeded",
            retry_after=QUEUE_FULL_RETRY_AFTER,
        ) from None
    return slot


def _check_declared_length(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"request body is {declared} bytes; the limit is {limit}", "body")


def _limited(request: Request, limit: int) -> Request:
    """The request again, its body cut off with a 413 as soon as more than `limit` bytes arrived, whatever
    Content-Length said (a chunked body declares none) and whoever reads it (the multipart parser)."""
    received = 0

    async def receive() -> Message:
        nonlocal received
        message = await request.receive()
        received += len(message.get("body", b""))
        if received > limit:
            raise ApiError(413, f"request body is over the {limit}-byte limit", "body")
        return message

    return Request(request.scope, receive)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing early (413) when it is larger than allowed, whatever Content-Length claims."""
    _check_declared_length(request, limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"request body is over the {limit}-byte limit", "body")
        chunks.append(chunk)
    return b"".join(chunks)


async def parse_speech(request: Request, limit: int) -> tuple[SpeechRequest, bytes | None]:
    """(validated request, reference audio bytes) from a JSON or multipart body of at most `limit` bytes."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    reference: bytes | None = None
    fields: object
    if content_type == "application/json":
        body = await read_body(request, limit)
        try:
            fields = parse_json(body)
        except ValueError as err:
            raise ApiError(400, f"malformed JSON body: {err}", "body") from None
        if not isinstance(fields, dict):
            raise ApiError(400, f"the JSON body must be an object, not {type(fields).__name__}", "body")
    elif content_type == "multipart/form-data":
        fields, reference = await _multipart_fields(request, limit)
    else:
        raise ApiError(
            415,
            f"unsupported content type {content_type or '(none)'!r}; send application/json or multipart/form-data",
            "content-type",
        )
    try:
        speech = SpeechRequest.model_validate(fields)
    except ValidationError as err:
        param, message = first_error(err)
        raise ApiError(400, message, param) from None
    if speech.ref_audio is not None:
        if reference is not None:
            raise ApiError(400, "ref_audio given twice (as a file and as text); send one", "ref_audio")
        try:
            reference = decode_base64_audio(speech.ref_audio)
        except ValueError as err:
            raise ApiError(400, f"ref_audio: {err}", "ref_audio") from None
    return speech, reference


async def read_form(
    request: Request, limit: int, file_fields: frozenset[str]
) -> tuple[dict[str, str], dict[str, bytes]]:
    """(text parts, file parts) of a multipart body of at most `limit` bytes; each part once, files only where
    expected, so a confused client hears which part is wrong."""
    _check_declared_length(request, limit)
    try:
        form = await _limited(request, limit).form(max_files=len(file_fields), max_fields=64, max_part_size=limit)
    except (MultiPartException, HTTPException) as err:
        raise ApiError(400, f"malformed multipart body: {getattr(err, 'detail', err)}", "body") from None
    texts: dict[str, str] = {}
    files: dict[str, bytes] = {}
    for key, value in form.multi_items():
        if key in texts or key in files:
            raise ApiError(400, f"{key} given more than once; send each field once", key)
        if isinstance(value, UploadFile):
            if key not in file_fields:
                allowed = " or ".join(sorted(file_fields)) or "none"
                raise ApiError(400, f"unexpected file field {key!r}; only {allowed} may be a file", key)
            files[key] = await value.read()
        else:
            texts[key] = value
    return texts, files


async def _multipart_fields(request: Request, limit: int) -> tuple[dict[str, object], bytes | None]:
    """The fields of a multipart body, each text part read by api.form_value's rule; ref_audio may be a file."""
    texts, files = await read_form(request, limit, frozenset({"ref_audio"}))
    fields: dict[str, object] = {}
    for key, value in texts.items():
        try:
            fields[key] = form_value(key, value)
        except ValueError as err:
            raise ApiError(400, f"{key}: {err}", key) from None
    return fields, files.get("ref_audio")


async def wait_for_disconnect(request: Request) -> None:
    """Returns when the client goes away (the body has been read already)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def unless_gone(request: Request, work: Awaitable[T], timeout: float, timed_out: ApiError) -> T:
    """The result of `work`, raced against the client leaving and `timeout` seconds passing. If either comes
    first the work is cancelled (and awaited), then ClientDisconnect or `timed_out` is raised."""
    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(wait_for_disconnect(request))
    try:
        done, _ = await asyncio.wait({task, gone}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not task.done():
            task.cancel()
    if task not in done:
        with contextlib.suppress(asyncio.CancelledError, ApiError):
            await task
        if gone in done:
            raise ClientDisconnect
        raise timed_out
    return task.result()


Cleanup = Callable[[bool], Awaitable[None]]
"""Called once with whether the whole body was sent (False: the client left, or the body raised): release what
the request held, record the outcome."""


class GuardedStream(StreamingResponse):
    """A streaming response that always releases what the request held, even if it never started."""

    def __init__(
        self,
        content: AsyncIterator[bytes],
        cleanup: Cleanup,
        *,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
    ) -> None:
        super().__init__(content, status_code=status_code, headers=headers, media_type=media_type)
        self._cleanup = cleanup
        self._sent_all = False

    async def stream_response(self, send: Send) -> None:
        # Starlette cancels this when the client leaves and returns normally: only reaching the end means sent
        await super().stream_response(send)
        self._sent_all = True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._cleanup(self._sent_all)
