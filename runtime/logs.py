"""Logs an operator can use, for the runtime and the router alike: one access line per request, one request id
through every tier, text for a terminal and JSON for pods, and background polls kept out of INFO.

- The format (`voxdeploy serve --log-format`) applies to every line the process writes through logging, uvicorn's
  own included (run_server leaves uvicorn's log_config unset, so its loggers reach the one handler set here).
- `AccessLog` is a pure ASGI middleware, not Starlette's BaseHTTPMiddleware, so streamed answers pass through
  untouched and a client that leaves cancels the work as before. It takes the client's `X-Request-Id` if usable
  (else makes one), returns it on every response, holds it in a context variable while the request runs (the
  engine client and the router's forwarding read it, so the engine and the tiers see the same id, and every line
  logged meanwhile carries it), and writes one line when the request is over.
- Requests to the probe and scrape paths are logged at DEBUG: the kubelet, Prometheus and the router's checks of its
  tiers ask them every few seconds, so at INFO they would be most of the log (as httpx's line per health poll was).
"""

from __future__ import annotations

import contextvars
import datetime
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voxdeploy.contracts.api import (
    ENGINE_HEADER,
    HEALTH_PATH,
    METRICS_PATH,
    READY_PATH,
    REQUEST_ID_HEADER,
    TIER_HEADER,
)
from voxdeploy.contracts.runtime import LogFormat, LogLevel

access_log = logging.getLogger("voxdeploy.access")

KEY_NAME = "key_name"
"""Where in the request's scope state (`request.state.key_name`) API-key authentication leaves the name of the
caller's key, never the key itself; the access line's `key`."""
AUDIO_SECONDS = "audio_seconds"
"""Where in the request's scope state the speech handler leaves a reader of the audio made so far (see
report_audio)."""

QUIET_ROUTES = frozenset({HEALTH_PATH, READY_PATH, METRICS_PATH})
"""Polled routes: their access lines are DEBUG."""

_ID_HEADER = REQUEST_ID_HEADER.lower().encode("latin-1")
_USABLE_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")
"""A client's request id is kept if it is this: bounded and safe to put into a header, a log line and a query."""
LOGGED_PATH_CHARS = 256
"""The most of a request's path an access line keeps: a scanner's 30 KiB URL is not the log's to store."""
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("voxdeploy_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being handled in this task (None outside a request)."""
    return _request_id.get()


def request_id_headers() -> dict[str, str]:
    """The header that carries the current request's id on to an engine or a tier (none outside a request)."""
    request_id = _request_id.get()
    return {REQUEST_ID_HEADER: request_id} if request_id is not None else {}


def usable_request_id(sent: str | None) -> str:
    """The client's id when it is usable, else a new one (uuid4, 32 hex digits): anything else could forge log
    lines, overflow a header or a log index, or carry what no log should (a token pasted in by mistake)."""
    if sent is not None and _USABLE_ID.fullmatch(sent):
        return sent
    return uuid.uuid4().hex


def report_audio(scope: Scope, seconds: Callable[[], float]) -> None:
    """Let the request's access line say how much audio it made: `seconds` is read when the request is over (a
    stream's audio is counted only as it goes out)."""
    scope.setdefault("state", {})[AUDIO_SECONDS] = seconds


_CORE_KEYS = frozenset({"ts", "level", "logger", "message"})


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts (UTC, ISO 8601), level, logger, message, the request id of the request being
    handled, the record's structured `fields` (logging's `extra={"fields": {...}}`), and a traceback as `exc`."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, object] = {
            "ts": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = _request_id.get()
        if request_id is not None:
            document["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            document.update({key: value for key, value in fields.items() if key not in _CORE_KEYS})
        if record.exc_info:
            document["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            document["stack"] = self.formatStack(record.stack_info)
        return json.dumps(document, default=str)


class TextFormatter(logging.Formatter):
    """`time level logger: message`, then `[request_id=...]` on lines logged while a request is handled."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        request_id = _request_id.get()
        return line if request_id is None else f"{line} [request_id={request_id}]"


class _ClientRequestsAtDebug(logging.Filter):
    """httpx logs every request it sends at INFO: the supervisor's health poll each second, the router's check of
    each endpoint each interval, and every forwarded request (which the access line already covers). Those become
    DEBUG lines, shown only when the log level is DEBUG."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.partition(".")[0] in ("httpx", "httpcore") and record.levelno == logging.INFO:
            record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
            return self.level <= logging.DEBUG
        return True


def configure_logging(level: LogLevel, log_format: LogFormat, stream: TextIO | None = None) -> None:
    """Every logger of the process to one handler on `stream` (stderr), at `level`, in `log_format`; replaces
    whatever was set up before (the CLI's own text setup)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(_ClientRequestsAtDebug(logging.getLevelName(level)))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.getLogger("httpx").setLevel(logging.NOTSET)  # the filter decides, not the CLI's quieting


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


@dataclass
class _Answer:
    """What went out of one request: the status and headers sent, and whether the body went out whole: its last
    message, or every byte its Content-Length declared (the client may leave on the last byte, before the server
    sends the last, empty message of the body, and then Starlette never sends it)."""

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    sent: int = 0
    whole: bool = False

    def body(self, message: Message) -> None:
        self.sent += len(message.get("body", b""))
        declared = self.headers.get("content-length", "")
        if not message.get("more_body", False) or (declared.isdigit() and self.sent >= int(declared)):
            self.whole = True

    def outcome(self, failed: bool) -> int:
        if failed or self.status is None:
            return 500
        return self.status if self.whole else 499


class AccessLog:
    """ASGI middleware: the request id in and out, and one access line per request when it is over.

    The line's status is the one sent, except that a response whose body did not go out whole reads 499 (the
    client left) or 500 (it broke off on an error), as the request counters count it; a request that raised before
    answering is a 500 (what Starlette's last handler sends). `route` is the route's template, so unknown paths add
    no values to it, and `path` the path asked for (bounded, control characters escaped), which is what a line of a
    request refused before routing (a missing key's 401, a key's 429, an unknown path's 404) has to tell where it
    went; `engine` and `tier` come from the response's own headers (a router relays the tier's engine)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = usable_request_id(_header(scope, _ID_HEADER))
        answer = _Answer()

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(key, value) for key, value in message.get("headers", []) if key.lower() != _ID_HEADER]
                headers.append((_ID_HEADER, request_id.encode("latin-1")))
                message = {**message, "headers": headers}
                answer.status = message["status"]
                answer.headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in headers}
            elif message["type"] == "http.response.body":
                answer.body(message)
            await send(message)

        token = _request_id.set(request_id)
        failed = False
        try:
            await self.app(scope, receive, sending)
        except BaseException:
            failed = True
            raise
        finally:
            _request_id.reset(token)
            _log(scope, request_id, answer.outcome(failed), time.perf_counter() - started, answer.headers)


def loggable_path(path: str) -> str:
    """The path as an access line shows it: at most LOGGED_PATH_CHARS, and no character that could forge a line."""
    kept = "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in path[:LOGGED_PATH_CHARS]
    )
    return kept + ("..." if len(path) > LOGGED_PATH_CHARS else "")


def _log(scope: Scope, request_id: str, status: int, duration: float, sent: dict[str, str]) -> None:
    route = getattr(scope.get("route"), "path", None) or "-"
    level = logging.DEBUG if route in QUIET_ROUTES else logging.INFO
    if not access_log.isEnabledFor(level):
        return
    state = scope.get("state", {})
    audio = state.get(AUDIO_SECONDS)
    audio_seconds = round(audio(), 3) if callable(audio) else None
    fields: dict[str, object] = {
        "method": scope["method"],
        "route": route,
        "path": loggable_path(scope["path"]),
        "status": status,
        "duration_s": round(duration, 4),
        "audio_seconds": audio_seconds,
        "engine": sent.get(ENGINE_HEADER.lower(), "-"),
        "request_id": request_id,
        "key": str(state.get(KEY_NAME) or "-"),
    }
    tier = sent.get(TIER_HEADER.lower())
    if tier is not None:
        fields["tier"] = tier
    access_log.log(
        level,
        "%s %s %d %.3fs audio=%s engine=%s%s key=%s request_id=%s",
        scope["method"],
        fields["path"] if route == "-" else route,
        status,
        duration,
        "-" if audio_seconds is None else f"{audio_seconds}s",
        fields["engine"],
        "" if tier is None else f" tier={tier}",
        fields["key"],
        request_id,
        extra={"fields": fields},
    )
