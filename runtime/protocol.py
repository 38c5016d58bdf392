"""HTTP/1.1 limits a trusted front server sets and uvicorn's httptools protocol leaves out.

uvicorn bounds none of a request head: llhttp buffers a header value of any size (a 64 MB one was taken) and any
number of fields (100,000 were), and a connection that never sends a request is never closed (10,000 idle
connections ran the process out of file descriptors and new clients out of service). Its settings do not reach
this: `timeout_keep_alive` starts only after a first response, `limit_concurrency` answers 503 to new requests
while every idle connection keeps its descriptor, and `h11_max_incomplete_event_size` is for the h11 protocol,
not httptools. An ASGI middleware cannot either: the app is called once a head is complete. So the limits live
here, in a subclass of uvicorn's protocol that both the runtime and the router serve with (runtime/app.py):

- the head: at most `max_header_bytes` (431; a URL alone beyond it 414), at most `max_header_count` fields (431),
  HTTP/1.0 or 1.1 only (505: HTTP/0.9 has no head to answer with), all within `header_timeout_seconds` (408; a
  connection that sent nothing is closed silently);
- the body: whole within `body_timeout_seconds` of its head (408), however slowly it trickles;
- connections: at most `max_connections`, below the open-file limit; at the limit the one that has waited
  longest for a request is closed to make room, as nginx reuses its idle keep-alive connections.

Refusals here are OpenAI-style JSON like the app's, close the connection, and are counted by the service's
`count_refused` (its requests counter, as the app counts its own answers).
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import time
from asyncio import TimerHandle
from http import HTTPStatus
from typing import Any, ClassVar, cast

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from voxdeploy.contracts.runtime import RuntimeServer
from voxdeploy.runtime.http import ApiError
from voxdeploy.runtime.service import Service

log = logging.getLogger("voxdeploy.protocol")

BODY_TIMED_OUT = "voxdeploy.body_timed_out"
"""Key this protocol adds to a request's ASGI `extensions` when it answered 408 for a body that did not arrive in
time: the app, which sees only a disconnect, can record the 408 the client got."""

FILES_RESERVED = 64
"""Open files kept for other than client connections (listener, epoll, engine pipes, logs, temporary files);
one more per request in flight is kept for its engine or upstream connection."""

REQUEST_LINE_OVERHEAD = 16
"""Bytes of a request line besides its URL: method, spaces, `HTTP/1.1`, CRLF (within a few bytes)."""

SUPPORTED_VERSIONS = ("1.0", "1.1")

REFUSAL_LOG_INTERVAL_SECONDS = 10.0
"""Connections refused for want of room are logged at most this often, with a count, not one line each."""


class Refused(Exception):
    """Raised in a parser callback to stop parsing; the protocol then answers `status` and closes."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def refusal(status: int, message: str, retry_after: int | None = None) -> bytes:
    """A whole HTTP/1.1 response with the app's JSON error body, closing the connection."""
    error_type = {408: "timeout", 503: "server_overloaded"}.get(status, "invalid_request_error")
    body = json.dumps({"error": ApiError(status, message, None, error_type).error()}).encode()
    head = [
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
        "content-type: application/json",
        f"content-length: {len(body)}",
        "connection: close",
    ]
    if retry_after is not None:
        head.append(f"retry-after: {retry_after}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + body


def connection_budget(server: RuntimeServer) -> int:
    """How many client connections this process may hold: `max_connections`, lowered to stay below the open-file
    limit. The soft limit is raised towards the hard one first if that is what it takes (as Go's runtime does at
    start): a container's soft limit is often 1024, below what the defaults need."""
    reserve = FILES_RESERVED + server.max_concurrent_requests
    wanted = server.max_connections + reserve
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
        except (ValueError, OSError) as err:
            log.warning("cannot raise the open-file limit from %d to %d: %s", soft, raised, err)
    if soft == resource.RLIM_INFINITY or soft - reserve >= server.max_connections:
        return server.max_connections
    allowed = max(1, soft - reserve)
    log.warning(
        "serving at most %d connections, not %d: the open-file limit is %d and %d files are kept for the rest",
        allowed,
        server.max_connections,
        soft,
        reserve,
    )
    return allowed


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits of the module docstring; `bind` makes one per server."""

    settings: ClassVar[RuntimeServer]
    service: ClassVar[Service]
    max_connections: ClassVar[int]
    waiting: ClassVar[dict[GuardedHttpToolsProtocol, None]]
    """This server's connections that wait for a request (none started, or idle between requests), oldest first:
    the ones to close when the server is full."""
    refused: ClassVar[list[float]]
    """[connections refused since the last log line, when that line was written]."""

    @classmethod
    def bind(cls, server: RuntimeServer, service: Service) -> type[GuardedHttpToolsProtocol]:
        """The protocol class for one server (uvicorn takes a class and builds one per connection)."""
        attributes = {
            "settings": server,
            "service": service,
            "max_connections": connection_budget(server),
            "waiting": {},
            "refused": [0, 0.0],
        }
        return cast(type[GuardedHttpToolsProtocol], type(cls.__name__, (cls,), attributes))

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._head_timer: TimerHandle | None = None
        self._body_timer: TimerHandle | None = None
        self._head_streamed: int | None = None
        """Bytes of the current head fed after the chunk it began in (None: no head begun)."""
        self._head_size = 0
        self._head_fields = 0
        self._refusal: Refused | None = None

    # connections

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections and not self._evict_oldest_waiting():
            self._count_refusal()
            self._reply(503, "the server holds as many connections as it may; retry shortly", retry_after=1)
            return
        self._wait_for_request()
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self.waiting.pop(self, None)
        self._cancel_head_timer()
        self._cancel_body_timer()
        super().connection_lost(exc)

    def _wait_for_request(self) -> None:
        self.waiting.pop(self, None)
        self.waiting[self] = None

    def _evict_oldest_waiting(self) -> bool:
        oldest = next(iter(self.waiting), None)
        if oldest is None:
            return False
        del self.waiting[oldest]
        oldest.transport.close()
        return True

    def _count_refusal(self) -> None:
        now = time.monotonic()
        self.refused[0] += 1
        if now - self.refused[1] >= REFUSAL_LOG_INTERVAL_SECONDS:
            log.warning(
                "%d connection(s) refused with 503: all %d are busy with requests",
                self.refused[0],
                self.max_connections,
            )
            self.refused[:] = [0, now]

    def _reply(self, status: int, message: str, retry_after: int | None = None, counted: bool = False) -> None:
        """Answer and close; `counted`: the app records this answer itself (a body that timed out)."""
        if not self.transport.is_closing():
            self.transport.write(refusal(status, message, retry_after))
            self.transport.close()
            if not counted:
                self.service.count_refused(status)

    # the request head

    def data_received(self, data: bytes) -> None:
        continued = self._head_streamed is not None
        super().data_received(data)
        if continued and self._head_streamed is not None and not self.transport.is_closing():
            # the head began before this chunk and is still not complete: all of the chunk is head
            self._head_streamed += len(data)
            if self._head_streamed > self.settings.max_header_bytes:
                self._reply(431, f"the request head is over the {self.settings.max_header_bytes}-byte limit")

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a parser error, which is also how a refusal raised in a callback arrives."""
        refused, self._refusal = self._refusal, None
        if refused is not None:
            self._reply(refused.status, refused.message)
        else:
            self._reply(400, "malformed HTTP request")

    def _refuse(self, status: int, message: str) -> None:
        self._refusal = Refused(status, message)
        raise self._refusal

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_streamed, self._head_size, self._head_fields = 0, REQUEST_LINE_OVERHEAD, 0
        self._arm_head_timer()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.settings.max_header_bytes:
            self._refuse(414, f"the URL is over the {self.settings.max_header_bytes}-byte limit")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_fields += 1
        self._head_size += len(name) + len(value) + 4
        if self._head_fields > self.settings.max_header_count:
            self._refuse(431, f"more than {self.settings.max_header_count} header fields")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._cancel_head_timer()
        self._head_streamed = None
        limit = self.settings.max_header_bytes
        if self._head_size + len(self.url) > limit:
            self._refuse(431, f"the request head is over the {limit}-byte limit")
        version = self.parser.get_http_version()
        if version not in SUPPORTED_VERSIONS:
            self._refuse(505, f"HTTP/{version} is not supported; use HTTP/1.1")
        self.waiting.pop(self, None)
        super().on_headers_complete()
        self._body_timer = self.loop.call_later(self.settings.body_timeout_seconds, self._body_timed_out)

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.settings.header_timeout_seconds, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False  # a pipelined head is late: close once the response under way is sent
        elif self._head_streamed is None:
            self.transport.close()  # not a byte of a request: nothing to answer
        else:
            self._reply(408, f"the request head did not arrive within {self.settings.header_timeout_seconds:g} s")

    # the request body

    def on_message_complete(self) -> None:
        self._cancel_body_timer()
        super().on_message_complete()

    def _cancel_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _body_timed_out(self) -> None:
        self._body_timer = None
        cycle = self.cycle
        if cycle.response_started:
            self.transport.close()  # answered already, the body still trickling in: stop reading it
            return
        cycle.scope.setdefault("extensions", {})[BODY_TIMED_OUT] = {}
        cycle.disconnected = True
        cycle.message_event.set()
        self._reply(
            408, f"the request body did not arrive within {self.settings.body_timeout_seconds:g} s", counted=True
        )

    # between requests

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.cycle.response_complete:
            self._wait_for_request()
