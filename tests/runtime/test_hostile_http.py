"""Hostile HTTP against a real `voxdeploy serve --engine sim` on 127.0.0.1: oversized and endless request heads,
old HTTP versions, idle and trickling connections, chunked bodies past the limit, clients that leave a queue,
and SIGTERM. Raw sockets where a client library would refuse to send what an attacker sends."""

from __future__ import annotations

import os
import re
import selectors
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support.processes import Served, wait_until
from voxdeploy.contracts.runtime import RuntimeServer
from voxdeploy.runtime import protocol

SPEECH = "/v1/audio/speech"
FAST_SIM = {"kind": "sim", "rtf": 0.05, "firstAudioSeconds": 0.02}


def serve_with(
    serve: Callable[..., Served], tmp_path: Path, engine: dict | None = None, speech: dict | None = None, **server
) -> Served:
    """A runtime from a settings file: the server settings given (camelCase), loopback, a fast simulator."""
    document = {"host": "127.0.0.1", "engine": engine or FAST_SIM, "server": server, "speech": speech or {}}
    path = tmp_path / f"runtime-{len(list(tmp_path.glob('runtime-*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(document))
    return serve("--config", str(path))


def exchange(port: int, *parts: bytes, pause: float = 0.0, timeout: float = 15.0) -> bytes:
    """Send the parts (pausing between them), then read until the server closes; the server may close while
    the parts are still going out (that is the point of a refusal), so a failed send only ends the sending."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        for part in parts:
            try:
                sock.sendall(part)
            except OSError:
                break
            time.sleep(pause)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
        return received


def read_response(sock: socket.socket) -> bytes:
    """One response with a Content-Length body, read off a connection the server keeps open."""
    received = b""
    while b"\r\n\r\n" not in received or len(received.partition(b"\r\n\r\n")[2]) < _length(received):
        chunk = sock.recv(65536)
        assert chunk, f"closed before the whole response: {received[:300]!r}"
        received += chunk
    return received


def _length(response: bytes) -> int:
    match = re.search(rb"(?i)content-length: (\d+)", response)
    return int(match.group(1)) if match else 0


def status_of(response: bytes) -> int:
    match = re.match(rb"HTTP/1\.1 (\d{3}) ", response)
    assert match, response[:200]
    return int(match.group(1))


def json_error(response: bytes) -> dict:
    import json

    head, _, body = response.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), head
    return json.loads(body)["error"]


def metric(url: str, sample: str) -> float:
    """The value of the first sample whose line starts with `sample` (a name, or a name and its first labels)."""
    for line in httpx.get(url + "/metrics", timeout=5).text.splitlines():
        if line.startswith(sample):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_request_heads_are_bounded_and_old_versions_refused(sim_server: Served) -> None:
    port, limit = sim_server.port, RuntimeServer().max_header_bytes
    get = b"GET /health HTTP/1.1\r\nHost: x\r\n"
    # a 64 MB header value (accepted before): refused while it is still arriving, not after
    start = time.monotonic()
    huge = exchange(port, get + b"X-Big: ", b"a" * (1 << 20), b"a" * (63 << 20), b"\r\n\r\n")
    assert status_of(huge) == 431 and json_error(huge)["code"] == 431
    assert time.monotonic() - start < 10, "refused before the whole value was read"
    # 100,000 header fields (accepted before), and one more than the count allows
    many = get + b"".join(b"X-H%d: v\r\n" % i for i in range(100_000)) + b"\r\n"
    assert status_of(exchange(port, many)) == 431
    assert status_of(exchange(port, get + b"".join(b"X-H%d: v\r\n" % i for i in range(100)) + b"\r\n")) == 431
    assert "header fields" in json_error(exchange(port, many))["message"]
    # a head over the size limit in one piece, and a URL alone over it
    assert status_of(exchange(port, get + b"X-Big: " + b"a" * limit + b"\r\n\r\n")) == 431
    assert status_of(exchange(port, b"GET /" + b"a" * limit + b" HTTP/1.1\r\nHost: x\r\n\r\n")) == 414
    # HTTP/0.9 (no version) and versions HTTP/1 framing cannot carry
    for line in (b"GET /health\r\n\r\n", b"GET /health HTTP/0.9\r\n\r\n", b"GET /health HTTP/2.0\r\n\r\n"):
        assert status_of(exchange(port, line)) == 505, line
    # what is within the limits is served as before: 99 fields, a 30 KiB value, HTTP/1.0
    fine = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    assert status_of(exchange(port, fine + b"".join(b"X-H%d: v\r\n" % i for i in range(97)) + b"\r\n")) == 200
    assert status_of(exchange(port, fine + b"X-Big: " + b"a" * (30 << 10) + b"\r\n\r\n")) == 200
    assert status_of(exchange(port, b"GET /health HTTP/1.0\r\n\r\n")) == 200


def test_idle_connections_are_closed_and_new_clients_still_served(serve, tmp_path: Path) -> None:
    """Reproduced before: idle connections were never closed, and enough of them ran the server out of files."""
    served = serve_with(serve, tmp_path, headerTimeoutSeconds=1.0, maxConnections=50)
    baseline = open_files(served.process.pid)
    sockets = [socket.create_connection(("127.0.0.1", served.port)) for _ in range(200)]
    try:
        time.sleep(0.3)
        # at the connection limit the longest idle ones made room: the server holds about 50, not 200
        assert open_files(served.process.pid) <= baseline + 50 + 5
        assert httpx.get(served.url + "/health", timeout=5).status_code == 200
        assert httpx.post(served.url + SPEECH, json={"input": "Still served."}, timeout=30).status_code == 200
        selector = selectors.DefaultSelector()
        for sock in sockets:
            selector.register(sock, selectors.EVENT_READ)
        closed: set[object] = set()
        deadline = time.monotonic() + 10
        while len(closed) < len(sockets) and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.2):
                assert key.fileobj.recv(1024) == b"", (
                    "closed silently: nothing to answer a connection that sent nothing"
                )
                closed.add(key.fileobj)
                selector.unregister(key.fileobj)
        assert len(closed) == len(sockets), f"{len(sockets) - len(closed)} idle connections still open"
    finally:
        for sock in sockets:
            sock.close()


def test_connections_busy_with_requests_are_not_evicted(serve, tmp_path: Path) -> None:
    """At the limit with every connection inside a request, a newcomer is refused with 503, not served by
    breaking a request in flight; and the limit is kept below the open-file limit."""
    served = serve_with(serve, tmp_path, engine={**FAST_SIM, "rtf": 1.0}, maxConnections=2)
    results: list[int] = []

    def speak() -> None:
        results.append(
            httpx.post(served.url + SPEECH, json={"input": "Hold this slot a while."}, timeout=30).status_code
        )

    threads = [threading.Thread(target=speak) for _ in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)  # both connected and synthesizing (~1.6 s each); a /metrics poll would need a third connection
    refused = exchange(served.port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    for thread in threads:
        thread.join()
    assert status_of(refused) == 503 and b"retry-after: 1" in refused.lower()
    assert json_error(refused)["type"] == "server_overloaded"
    assert results == [200, 200]
    assert answered(served.url, 503) == 1, "the refused connection is counted like the app's own 503s"


def answered(url: str, code: int) -> float:
    """voxdeploy_requests_total of one status code, summed over its other labels."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in httpx.get(url + "/metrics", timeout=5).text.splitlines()
        if line.startswith("voxdeploy_requests_total{") and f'code="{code}"' in line
    )


def test_refusals_of_the_http_layer_are_counted_with_the_apps_answers(serve, tmp_path: Path) -> None:
    """Answered before the app sees a request, and once missing from voxdeploy_requests_total: a 505 was a 5xx the
    error alerts could not see."""
    served = serve_with(serve, tmp_path, maxHeaderCount=10)
    for line in (b"GET /health\r\n\r\n", b"GET /health HTTP/2.0\r\n\r\n"):
        assert status_of(exchange(served.port, line)) == 505
    many = b"GET /health HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(20)) + b"\r\n"
    assert status_of(exchange(served.port, many)) == 431
    assert status_of(exchange(served.port, b"GET /" + b"a" * (64 << 10) + b" HTTP/1.1\r\n\r\n")) == 414
    assert {code: answered(served.url, code) for code in (505, 431, 414)} == {505: 2, 431: 1, 414: 1}


def test_connection_budget_stays_below_the_open_file_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(protocol.resource, "getrlimit", lambda _: (1024, 1024))
    monkeypatch.setattr(protocol.resource, "setrlimit", lambda *_: None)
    server = RuntimeServer(max_connections=5000, max_concurrent_requests=8)
    assert protocol.connection_budget(server) == 1024 - protocol.FILES_RESERVED - 8
    assert protocol.connection_budget(RuntimeServer(max_connections=100)) == 100
    raised: list[tuple[int, int]] = []
    monkeypatch.setattr(protocol.resource, "getrlimit", lambda _: (1024, 1 << 20))
    monkeypatch.setattr(protocol.resource, "setrlimit", lambda _, limits: raised.append(limits))
    assert protocol.connection_budget(RuntimeServer()) == 1024
    assert raised == [(1024 + protocol.FILES_RESERVED + 8, 1 << 20)], "the soft limit is raised as far as needed"


def test_trickled_heads_and_bodies_time_out_without_starving_others(serve, tmp_path: Path) -> None:
    served = serve_with(serve, tmp_path, headerTimeoutSeconds=1.0, bodyTimeoutSeconds=1.5)
    head = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 40
    body_head = (
        b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n"
    )
    answers: dict[str, list[bytes]] = {"head": [], "body": []}

    def trickle(kind: str, parts: list[bytes]) -> None:
        answers[kind].append(exchange(served.port, *parts, pause=0.1, timeout=20))

    threads = [threading.Thread(target=trickle, args=("head", [bytes([b]) for b in head])) for _ in range(10)]
    threads += [threading.Thread(target=trickle, args=("body", [body_head] + [b" "] * 100)) for _ in range(10)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    assert httpx.post(served.url + SPEECH, json={"input": "Others go on."}, timeout=10).status_code == 200
    for thread in threads:
        thread.join()
    assert time.monotonic() - started < 8, "cut off at the timeouts, not when the clients gave up"
    for response in answers["head"]:
        assert status_of(response) == 408 and "head" in json_error(response)["message"]
    for response in answers["body"]:
        assert status_of(response) == 408 and "body" in json_error(response)["message"]
    # the heads' 408s counted by the HTTP layer, the bodies' by the app (a body cut off reaches it as a disconnect)
    wait_until(lambda: answered(served.url, 408) == 20, 5, "the 408s to be counted")


def test_chunked_body_over_the_limit_is_refused_before_it_ends(serve, tmp_path: Path) -> None:
    """Reproduced before: a 40 MB chunked multipart upload was read to its end, then refused on its content."""
    served = serve_with(serve, tmp_path, speech={"maxBodyBytes": 1 << 20})
    for content_type, first in (
        (
            b"multipart/form-data; boundary=B",
            b'--B\r\nContent-Disposition: form-data; name="ref_audio"; filename="a"\r\n\r\n',
        ),
        (b"application/json", b'{"input": "'),
    ):
        head = (
            b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: " + content_type
        )
        chunk = b"a" * 65536
        parts = [head + b"\r\n\r\n", b"%x\r\n%s\r\n" % (len(first), first)] + [b"10000\r\n" + chunk + b"\r\n"] * 20
        with socket.create_connection(("127.0.0.1", served.port), timeout=15) as sock:
            for part in parts:  # 1.3 MiB of a body that never ends: no terminating chunk is sent
                sock.sendall(part)
            response = read_response(sock)
        assert status_of(response) == 413, response[:300]
        assert json_error(response)["param"] == "body"
    assert metric(served.url, 'voxdeploy_requests_total{code="413"') == 2


def test_queued_clients_that_leave_or_time_out_release_what_they_took(serve, tmp_path: Path) -> None:
    """Reproduced before: 8 queued clients that left kept voxdeploy_requests_in_flight at 8 on an idle server."""
    served = serve_with(serve, tmp_path, engine={**FAST_SIM, "rtf": 1.0}, maxConcurrentRequests=1, maxQueuedRequests=16)
    first: list[int] = []
    holder = threading.Thread(
        target=lambda: first.append(
            httpx.post(served.url + SPEECH, json={"input": "Hold the only slot for a while."}, timeout=30).status_code
        )
    )
    holder.start()
    wait_until(lambda: metric(served.url, "voxdeploy_requests_in_flight") == 1, 10, "the first request to start")

    def leave(body: dict) -> None:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(served.url + SPEECH, json=body, timeout=httpx.Timeout(5, read=0.3))

    leavers = [threading.Thread(target=leave, args=({"input": "I will not wait."},)) for _ in range(6)]
    leavers += [threading.Thread(target=leave, args=({"input": "Nor I.", "stream": True},)) for _ in range(2)]
    for thread in leavers:
        thread.start()
    for thread in leavers:
        thread.join()
    holder.join()
    assert first == [200]
    wait_until(lambda: metric(served.url, "voxdeploy_requests_queued") == 0, 5, "the queue to empty")
    assert metric(served.url, "voxdeploy_requests_in_flight") == 0
    assert metric(served.url, 'voxdeploy_requests_total{code="499"') == 8
    # a queue wait that outlasts the request timeout releases its place too
    timed = serve_with(
        serve,
        tmp_path,
        engine={**FAST_SIM, "rtf": 5.0, "firstAudioSeconds": 2.0},
        maxConcurrentRequests=1,
        requestTimeoutSeconds=0.5,
    )
    codes: list[int] = []
    posts = [
        threading.Thread(
            target=lambda stream=stream: codes.append(
                httpx.post(
                    timed.url + SPEECH, json={"input": "Too slow to finish.", "stream": stream}, timeout=30
                ).status_code
            )
        )
        for stream in (False, False, True)
    ]
    for thread in posts:
        thread.start()
    for thread in posts:
        thread.join()
    assert codes == [504, 504, 504]
    assert (
        metric(timed.url, "voxdeploy_requests_in_flight") == 0 and metric(timed.url, "voxdeploy_requests_queued") == 0
    )


def test_sigterm_keeps_serving_through_the_drain_delay_then_finishes_in_flight(serve, tmp_path: Path) -> None:
    """Before: connections were refused the moment SIGTERM landed, while endpoints still pointed here."""
    served = serve_with(serve, tmp_path, engine={**FAST_SIM, "rtf": 0.4}, drainDelaySeconds=1.5)
    results: list[httpx.Response] = []
    long_text = "Finish me before you go, please, all of it, every single word of this rather long sentence."
    thread = threading.Thread(
        target=lambda: results.append(
            httpx.post(
                served.url + SPEECH,
                json={"input": long_text, "response_format": "pcm", "sample_rate": 48000},
                timeout=60,
            )
        )
    )
    thread.start()
    wait_until(lambda: metric(served.url, "voxdeploy_requests_in_flight") == 1, 5, "the request to start")
    os.killpg(served.process.pid, signal.SIGTERM)
    time.sleep(0.2)
    assert httpx.get(served.url + "/ready", timeout=2).status_code == 503
    late = httpx.post(served.url + SPEECH, json={"input": "Still routed here."}, timeout=10)
    assert late.status_code == 200, "a request that arrives during the drain delay is served"
    time.sleep(1.8)
    with pytest.raises(httpx.ConnectError):
        httpx.get(served.url + "/health", timeout=2)
    thread.join()
    assert results[0].status_code == 200 and len(results[0].content) > 48000 * 2 * 3
    assert served.process.wait(20) == 0
