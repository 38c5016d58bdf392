"""A stand-in speech tier for the router's tests: a runtime's HTTP face with no engine behind it, for tests only.

It serves `GET /health` and `GET /ready` (200) and `POST /v1/audio/speech`: a few bytes of `audio/wav`, or a
500 with an OpenAI-style JSON error when the request body holds `--fail-marker` — as a runtime answers a
request that trips a bug in it (a lone UTF-16 surrogate in `voice` did), on every tier alike. Standard library
only, so it starts in a blink and can be SIGSTOPped like any tier process.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

AUDIO = b"RIFF\x24\x00\x00\x00WAVEfmt "


def make_handler(marker: bytes) -> type[BaseHTTPRequestHandler]:
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
            if self.path in ("/health", "/ready"):
                self._send(200, b'{"status":"ok"}', "application/json")
            else:
                self._send(404, b'{"error":{"message":"no such route"}}', "application/json")

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path != "/v1/audio/speech":
                self._send(404, b'{"error":{"message":"no such route"}}', "application/json")
            elif marker in body:
                error = {"message": "internal error", "type": "server_error", "param": None, "code": 500}
                self._send(500, json.dumps({"error": error}).encode(), "application/json")
            else:
                self._send(200, AUDIO, "audio/wav")

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fail-marker", required=True, help="a request whose body holds this gets a 500")
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(args.fail_marker.encode()))
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
