"""A stand-in for the loopback side of `vllm serve --omni` that the runtime reads besides speech, for tests only.

It serves `GET /health` (200, as vLLM's does once loaded) and `GET /metrics`: the text of `--metrics-file`
(tests/fixtures/upstream/vllm-omni-0.30-metrics.txt, names read from vLLM and vLLM-Omni 0.30.0) with
vLLM's content type. It synthesizes nothing: `POST /v1/audio/speech` answers 503.

Test hook, not in the real server: `POST /debug/metrics` with {"body": TEXT, "delay": SECONDS} makes later
/metrics answers TEXT (null: the file again) after SECONDS, to play a malformed or hung engine.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class State:
    """What /metrics answers now; the handler threads share it."""

    def __init__(self, metrics_file: Path) -> None:
        self.metrics_file = metrics_file
        self.lock = threading.Lock()
        self.body: str | None = None
        self.delay = 0.0

    def metrics(self) -> tuple[str, float]:
        with self.lock:
            body, delay = self.body, self.delay
        return (self.metrics_file.read_text() if body is None else body), delay


def make_handler(state: State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/health":
                self._send(200, b"", "application/json")
            elif self.path == "/metrics":
                body, delay = state.metrics()
                time.sleep(delay)
                self._send(200, body.encode(), CONTENT_TYPE)
            else:
                self._send(404, b'{"detail":"Not Found"}', "application/json")

        def do_POST(self) -> None:
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/debug/metrics":
                request = json.loads(data)
                with state.lock:
                    state.body, state.delay = request.get("body"), float(request.get("delay", 0.0))
                self._send(200, b"{}", "application/json")
            else:
                self._send(503, b'{"error":{"message":"a metrics stand-in synthesizes nothing"}}', "application/json")

    return Handler


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--metrics-file", type=Path, required=True, help="the exposition /metrics answers")
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server = ThreadingHTTPServer((args.host, args.port), make_handler(State(args.metrics_file)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    stop.wait()
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
