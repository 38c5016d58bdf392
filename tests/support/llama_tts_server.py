"""A stand-in for OpenBMB llama.cpp-omni's `llama-tts-server`, for tests only: it is not VoxCPM2.

CI cannot fetch or build the real server (a C++ build of the fork plus multi-GB GGUF files), so the
`llamacpp` engine is tested against this script. It speaks the real server's command line, routes
and fields, and reproduces the faults a wrapper must absorb, as measured on a 2026-08 snapshot of
the real source, `tc-mb/llama.cpp-omni` tools/server/server-voxcpm2.cpp, on 2026-11-24:

- `--voxcpm2-base-lm F --voxcpm2-acoustic F --port N` (plus `--host`, `--voxcpm2-n-gpu-layers` and any
  other llama.cpp flag, accepted and ignored). Without both model flags it exits 1. The files are not
  read (tests pass dummy names).
- It "loads" (`--load-seconds`, default 0.3) BEFORE it binds: connection refused until then.
- `GET /health`, `GET /v1/health` -> {"status":"ok"} (also while generating);
  `GET /v1/audio/speech/models`; `POST /v1/voxcpm2/init` (hot-load, answers ok).
- `POST /v1/audio/speech`: `model` "voxcpm", `input`, `voice` (ignored), `response_format` wav|pcm,
  `reference_audio` (base64 WAV), `seed`, `cfg_value`, `inference_timesteps`, `max_steps`, `temperature`.
  A leading `(description)` in `input` is voice design and is not spoken.
  Output: 48 kHz mono 16-bit WAV; `pcm` is raw little-endian FLOAT32 (not OpenAI's 16-bit).
- Every error is HTTP 500 with {"error":{"message","type"}}: empty/missing input, unknown model,
  a response_format other than wav|pcm (mp3...), non-WAV reference_audio, max_steps <= 0.
  Malformed JSON gives 500 with an EMPTY body. Wrongly typed fields are silently ignored.
- Two overlapping generations abort the process (`os.abort()`, exit 134). The real server sometimes
  answers 500 or corrupted audio instead; the stand-in always takes the worst, deterministic branch.
- `POST /v1/audio/speech/stream` sends the 200 headers and the WAV header, then aborts (exit 134).
- SIGTERM: stops accepting at once, finishes the in-flight request (200, full audio), exits 0.

The audio is a 220 Hz tone lasting `--seconds-per-char` (0.06 s) per spoken character, capped at
`max_steps` x 0.16 s, made in `--gen-rtf` (0.05) x its duration seconds.

Test hook, not in the real server: `GET /debug/last` -> {"pid", "requests" (speech requests
generated), "last" (the last speech request's JSON, reference_audio replaced by its length),
"inputs" (the `input` of recent requests, oldest first)}.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import re
import resource
import signal
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

SAMPLE_RATE = 48_000
STEP_SECONDS = 0.16
RECENT = 32
_DESIGN = re.compile(r"\s*\([^)]*\)(.*)", re.DOTALL)


class UpstreamError(Exception):
    """Answered as 500 {"error": {...}}, like every error of the real server."""


class State:
    """What the handler threads share."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.lock = threading.Lock()
        self.generating = 0
        self.requests = 0
        self.last: dict[str, object] | None = None
        self.inputs: list[str] = []
        self.idle = threading.Condition(self.lock)

    def begin(self) -> None:
        with self.lock:
            if self.generating:
                # Two requests on one VoxCPM2 runtime: the real server races and may abort. Always abort here.
                sys.stderr.write("llama-tts-server (fake): overlapping request; aborting\n")
                sys.stderr.flush()
                os.abort()
            self.generating += 1

    def end(self) -> None:
        with self.lock:
            self.generating -= 1
            self.idle.notify_all()


def wav_bytes(samples: np.ndarray) -> bytes:
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + len(pcm),
        b"WAVE",
        b"fmt ",
        16,
        1,
        1,
        SAMPLE_RATE,
        SAMPLE_RATE * 2,
        2,
        16,
        b"data",
        len(pcm),
    )
    return header + pcm


def validate(request: dict[str, object]) -> tuple[str, str, int | None]:
    """(text, response_format, max_steps) of a valid request, else UpstreamError. Wrong types are ignored."""
    model = request.get("model")
    if isinstance(model, str) and model != "voxcpm":
        raise UpstreamError(f"unknown model: {model}")
    text = request.get("input")
    if not isinstance(text, str) or not text:
        raise UpstreamError("'input' is required")
    fmt = request.get("response_format")
    fmt = fmt if isinstance(fmt, str) else "wav"
    if fmt not in ("wav", "pcm"):
        raise UpstreamError(f"unsupported response_format: {fmt} (wav, pcm)")
    reference = request.get("reference_audio")
    if isinstance(reference, str):
        try:
            data = base64.b64decode(reference, validate=True)
        except (binascii.Error, ValueError):
            data = b""
        if len(data) < 44 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
            raise UpstreamError("failed to decode reference_audio: not a WAV file")
    steps = request.get("max_steps")
    if isinstance(steps, int) and not isinstance(steps, bool):
        if steps <= 0:
            raise UpstreamError("max_steps must be positive")
    else:
        steps = None
    return text, fmt, steps


def generate(text: str, steps: int | None, args: argparse.Namespace) -> np.ndarray:
    design = _DESIGN.fullmatch(text)
    spoken = (design.group(1) if design else text).strip()
    seconds = max(len(spoken), 1) * args.seconds_per_char
    if steps is not None:
        seconds = min(seconds, steps * STEP_SECONDS)
    time.sleep(args.gen_rtf * seconds)
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.3 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)


def make_handler(state: State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "llama-tts-server-fake"

        def log_message(self, format: str, *args: object) -> None:
            if state.args.verbose:
                super().log_message(format, *args)

        def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True

        def _json(self, status: int, document: object) -> None:
            self._send(status, json.dumps(document).encode())

        def _error(self, message: str) -> None:
            self._json(500, {"error": {"message": message, "type": "server_error"}})

        def _body(self) -> dict[str, object] | None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                document = json.loads(raw)
            except ValueError:
                return None
            return document if isinstance(document, dict) else None

        def do_GET(self) -> None:
            if self.path in ("/health", "/v1/health"):
                self._json(200, {"status": "ok"})
            elif self.path == "/v1/audio/speech/models":
                self._json(
                    200,
                    {
                        "object": "list",
                        "data": [{"id": "voxcpm", "object": "model", "sample_rate": SAMPLE_RATE, "channels": 1}],
                    },
                )
            elif self.path == "/debug/last":
                with state.lock:
                    self._json(
                        200,
                        {
                            "pid": os.getpid(),
                            "requests": state.requests,
                            "last": state.last,
                            "inputs": list(state.inputs),
                        },
                    )
            else:
                self._send(404, b"", "text/plain")

        def do_POST(self) -> None:
            if self.path not in ("/v1/audio/speech", "/v1/audio/speech/stream", "/v1/voxcpm2/init"):
                self._send(404, b"", "text/plain")
                return
            request = self._body()
            if request is None:
                self._send(500, b"", "text/plain")  # malformed JSON: 500 with an empty body
                return
            if self.path == "/v1/voxcpm2/init":
                self._json(200, {"status": "ok"})
                return
            try:
                text, fmt, steps = validate(request)
            except UpstreamError as err:
                self._error(str(err))
                return
            if self.path == "/v1/audio/speech/stream":
                self._stream_then_abort()
                return
            self._speech(request, text, fmt, steps)

        def _speech(self, request: dict[str, object], text: str, fmt: str, steps: int | None) -> None:
            state.begin()
            try:
                with state.lock:
                    state.requests += 1
                    recorded = dict(request)
                    if isinstance(recorded.get("reference_audio"), str):
                        recorded["reference_audio"] = f"<{len(recorded['reference_audio'])} base64 chars>"
                    state.last = recorded
                    state.inputs = [*state.inputs, text][-RECENT:]
                samples = generate(text, steps, state.args)
            finally:
                # The runtime is free once the audio is made, before it is sent: a client that sends
                # its next request the moment it has read this answer must not find it still busy.
                state.end()
            if fmt == "pcm":
                self._send(200, samples.astype("<f4").tobytes(), "audio/pcm")
            else:
                self._send(200, wav_bytes(samples), "audio/wav")

        def _stream_then_abort(self) -> None:
            state.begin()
            self.send_response(200)
            self.send_header("Content-Type", "audio/wav")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            header = bytearray(wav_bytes(np.zeros(0, dtype=np.float32)))
            struct.pack_into("<I", header, 4, 0xFFFFFFFF)  # sizes unknown while streaming
            struct.pack_into("<I", header, 40, 0xFFFFFFFF)
            self.wfile.write(f"{len(header):x}\r\n".encode() + bytes(header) + b"\r\n")
            self.wfile.flush()
            sys.stderr.write("llama-tts-server (fake): streaming generation aborts, as the real one does\n")
            sys.stderr.flush()
            os.abort()

    return Handler


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--voxcpm2-base-lm", help="BaseLM GGUF (not read by the stand-in)")
    parser.add_argument("--voxcpm2-acoustic", help="Acoustic GGUF (not read by the stand-in)")
    parser.add_argument("--voxcpm2-n-gpu-layers", type=int, default=0)
    parser.add_argument("--host", default=os.environ.get("LLAMA_ARG_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("LLAMA_ARG_PORT", "8080")))
    parser.add_argument("--load-seconds", type=float, default=0.3, help="model load time before binding")
    parser.add_argument("--gen-rtf", type=float, default=0.05, help="generation seconds per second of audio")
    parser.add_argument("--seconds-per-char", type=float, default=0.06, help="audio seconds per spoken character")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args, _ignored = parser.parse_known_args(argv)  # llama.cpp's common flags (-t, -c, ...) are accepted
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if not args.voxcpm2_base_lm or not args.voxcpm2_acoustic:
        sys.stderr.write("error: --voxcpm2-base-lm and --voxcpm2-acoustic are both required\n")
        return 1
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # aborts on purpose: leave no core files behind
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    time.sleep(args.load_seconds)  # "loading both GGUF files": nothing listens yet
    state = State(args)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(state))
    server.daemon_threads = True
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    serving.start()
    sys.stderr.write(f"llama-tts-server (fake): listening on {args.host}:{args.port} (pid {os.getpid()})\n")
    sys.stderr.flush()
    while not stop.wait(0.2):
        pass
    server.shutdown()
    server.server_close()  # stop accepting at once; the in-flight generation still answers
    with state.idle:
        state.idle.wait_for(lambda: state.generating == 0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
