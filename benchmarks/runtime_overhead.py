"""What the runtime's HTTP layer adds on top of the engine: the sim in-process vs through `voxdeploy serve`.

For each concurrency level (default 1, 16, 64 clients), measured side by side in one run:

  in-process   SimulatedEngine + runtime.synthesis.synthesize() + runtime.encoding.encode(), N asyncio tasks
               on uvloop, like the server: the engine's own time, nothing of the runtime around it.
  asgi direct  the runtime's Starlette app (runtime.server.create_app) called in this process with a
               synthetic ASGI scope, no socket: routing, body read, validation, admission, the
               disconnect watcher, metrics, response.
  http speech  the same settings behind a real `voxdeploy serve --engine sim` subprocess on 127.0.0.1,
               POST /v1/audio/speech (JSON, response_format wav) from an async client with keep-alive.
  http health  GET /health on that server with the same client: Starlette+uvicorn's cheapest route.
  http floor   the same client against a minimal uvloop+httptools server (a subprocess of this script)
               answering every request, after holding it idle as long as the engine takes in-process (its
               median, calibrated at start), with a fixed body as big as the speech response, in one write:
               the client, loopback and wake-ups after idling, a cost no server can go below. The hold
               actually spent is subtracted ("floor net+client").

The engine's work is small and fixed: a short text (default "Hi": one 0.16 s chunk of 48 kHz audio) and a
fast sim (--sim-rtf 0.01 --sim-first-audio 0.005; batch capacity and max-concurrent 256, so nothing queues
or slows down). The in-process and ASGI paths are built from the very flags given to `voxdeploy serve`
(voxdeploy.cli.serve). Each phase has a discarded warm-up then runs --seconds/--rounds seconds; the
paths alternate round by round and samples are pooled, so drift on a noisy machine hits them all alike.

Reported per level: requests, requests/s, p50/p99/mean of every path; then "added" = http speech minus
in-process (what a caller on the same host sees, client included), split into app (asgi direct minus
in-process) and server + transport + client (http speech minus asgi direct), beside the floor; and the
goal the issue states, the server adds under 1 ms at p50 (1 client). A table, then one JSON line (last).

Usage:
    .venv/bin/python benchmarks/runtime_overhead.py
    .venv/bin/python benchmarks/runtime_overhead.py --seconds 5 --levels 1,16,64 --rounds 4 --client aiohttp
    .venv/bin/python benchmarks/runtime_overhead.py --pin   # client/in-process on CPU 0, servers on CPU 1

Needs the runtime extra; the aiohttp client needs `pip install -e '.[bench]'` (else --client httpx).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import numpy as np

from voxdeploy.cli.common import free_port

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PATHS = ("in-process", "asgi direct", "http speech", "http health", "http floor")


# ----------------------------------------------------------------------------------------------- load loop


async def drive(call: Callable[[], Awaitable[None]], concurrency: int, warmup: float, seconds: float) -> list[float]:
    """Latencies (s) of the calls that finished inside the measured window (after the warm-up).

    Closed loop: each of `concurrency` workers calls again as soon as its call returns, until the window
    ends; requests/s is then len(result) / seconds, right however long a single call takes.
    """
    loop = asyncio.get_running_loop()
    begin = loop.time() + warmup
    end = begin + seconds
    latencies: list[float] = []

    async def worker() -> None:
        while loop.time() < end:
            start = time.perf_counter()
            await call()
            took = time.perf_counter() - start
            if begin <= loop.time() <= end:
                latencies.append(took)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


# -------------------------------------------------------------------------------------------- in-process


def serve_flags(args: argparse.Namespace, port: int) -> list[str]:
    return [
        "--engine",
        "sim",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--sim-rtf",
        str(args.sim_rtf),
        "--sim-first-audio",
        str(args.sim_first_audio),
        "--sim-batch-capacity",
        str(args.sim_batch_capacity),
        "--max-concurrent",
        str(args.max_concurrent),
        "--max-queue",
        str(args.max_queue),
    ]


class InProcess:
    """The engine path without HTTP (synthesize() + encode(), as SpeechHandler does) and the ASGI app."""

    def __init__(self, flags: list[str], text: str) -> None:
        from voxdeploy.cli.serve import add_arguments, runtime_config
        from voxdeploy.runtime import encoding
        from voxdeploy.runtime.app import build_engine
        from voxdeploy.runtime.engines.base import Synthesis
        from voxdeploy.runtime.server import create_app
        from voxdeploy.runtime.synthesis import Timing, synthesize

        self._encode, self._timing, self._synthesize = encoding.encode, Timing, synthesize

        parser = argparse.ArgumentParser()
        add_arguments(parser)
        config = runtime_config(parser.parse_args(flags))
        self.engine = build_engine(config)
        self.split_chars = config.speech.split_chars
        self.fade_samples = round(config.speech.crossfade_ms / 1000 * self.engine.sample_rate)
        self.synthesis = Synthesis(text=text)
        self.app = create_app(config, self.engine)
        body = json.dumps({"input": text, "response_format": "wav", "stream": False, "sample_rate": 48000}).encode()
        self.request = {"type": "http.request", "body": body, "more_body": False}
        self.scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/audio/speech",
            "raw_path": b"/v1/audio/speech",
            "query_string": b"",
            "root_path": "",
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "headers": [
                (b"host", b"127.0.0.1:8000"),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }

    async def one(self) -> bytes:
        timing = self._timing(arrived=time.perf_counter())
        chunks = [
            chunk
            async for chunk in self._synthesize(
                self.engine, self.synthesis, self.split_chars, self.fade_samples, timing
            )
        ]
        samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
        return self._encode(samples, self.engine.sample_rate, "wav")

    async def call(self) -> None:
        await self.one()

    async def asgi(self) -> None:
        """One request through the app; after the body, receive() waits as a connection that stays open."""
        messages = [self.request]
        status: list[int] = []

        async def receive() -> dict[str, object]:
            if messages:
                return messages.pop()
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

        async def send(message: dict[str, object]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])

        await self.app({**self.scope, "state": {}}, receive, send)
        if status != [200]:
            raise RuntimeError(f"ASGI POST /v1/audio/speech: HTTP {status}")


# ------------------------------------------------------------------------------------------------ clients


class Client:
    """One keep-alive async HTTP client (aiohttp or httpx); post() and get() return the call to repeat."""

    def __init__(self, kind: str, base: str, concurrency: int) -> None:
        self.kind, self.base, self.concurrency = kind, base, concurrency
        self._session = None

    async def __aenter__(self) -> Client:
        if self.kind == "aiohttp":
            import aiohttp

            connector = aiohttp.TCPConnector(limit=self.concurrency, force_close=False, use_dns_cache=True)
            self._session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60))
        else:
            import httpx

            limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
            self._session = httpx.AsyncClient(limits=limits, timeout=60.0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.kind == "aiohttp":
            await self._session.close()
        else:
            await self._session.aclose()

    def post(self, path: str, body: bytes) -> Callable[[], Awaitable[None]]:
        url, headers, session = self.base + path, {"Content-Type": "application/json"}, self._session
        if self.kind == "aiohttp":

            async def call() -> None:
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"POST {path}: HTTP {response.status}")
        else:

            async def call() -> None:
                response = await session.post(url, content=body, headers=headers)
                if response.status_code != 200:
                    raise RuntimeError(f"POST {path}: HTTP {response.status_code}")

        return call

    def get(self, path: str) -> Callable[[], Awaitable[None]]:
        url, session = self.base + path, self._session
        if self.kind == "aiohttp":

            async def call() -> None:
                async with session.get(url) as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"GET {path}: HTTP {response.status}")
        else:

            async def call() -> None:
                response = await session.get(url)
                if response.status_code != 200:
                    raise RuntimeError(f"GET {path}: HTTP {response.status_code}")

        return call


# ------------------------------------------------------------------------------------------------ servers


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before {url} answered")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as response:
            if response.status == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout:g} s")


@contextlib.contextmanager
def server(command: list[str], ready_url: str, cpu: int | None, label: str) -> Iterator[subprocess.Popen[bytes]]:
    """Start `command`, wait for `ready_url`, and stop it by PID (SIGTERM, then SIGKILL)."""
    print(f"# start {label}: {' '.join(command)}", file=sys.stderr)
    with tempfile.NamedTemporaryFile(prefix="voxdeploy-bench-", suffix=".log") as log:
        preexec = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
        process = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, preexec_fn=preexec)
        try:
            wait_ready(ready_url, process)
            yield process
        except BaseException:
            log.flush()
            sys.stderr.write(Path(log.name).read_text(errors="replace")[-3000:])
            raise
        finally:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.kill(process.pid, signal.SIGKILL)
                    process.wait()


def serve_floor(port: int, body_bytes: int, hold: float) -> None:
    """The floor server: uvloop + httptools; answers every request after `hold` seconds (the engine's time,
    spent idle, so the client sleeps as long as it does on the runtime) with the same `body_bytes` body, in
    one write. GET /stats returns and clears the hold times actually spent (ms), to subtract."""
    import httptools
    import uvloop

    response = b"HTTP/1.1 200 OK\r\ncontent-type: audio/wav\r\ncontent-length: %d\r\n\r\n" % body_bytes + bytes(
        body_bytes
    )
    holds: list[float] = []

    class Protocol(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport
            self.parser = httptools.HttpRequestParser(self)
            self.url = b""

        def data_received(self, data: bytes) -> None:
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserError:
                self.transport.close()

        def on_url(self, url: bytes) -> None:
            self.url = url

        def on_message_complete(self) -> None:
            if self.url == b"/stats":
                stats = json.dumps(holds).encode()
                holds.clear()
                self.transport.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d"
                    b"\r\n\r\n%s" % (len(stats), stats)
                )
            elif hold > 0:
                asyncio.get_running_loop().call_later(hold, self.answer, time.perf_counter())
            else:
                self.transport.write(response)

        def answer(self, arrived: float) -> None:
            if not self.transport.is_closing():
                holds.append((time.perf_counter() - arrived) * 1e3)
                self.transport.write(response)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        srv = await loop.create_server(Protocol, "127.0.0.1", port, backlog=1024)
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        async with srv:
            await stop.wait()

    uvloop.run(main())


def floor_holds(base: str) -> list[float]:
    with urllib.request.urlopen(base + "/stats", timeout=5) as response:
        return json.loads(response.read())


# ------------------------------------------------------------------------------------------------ report


def stats(latencies: list[float], seconds: float) -> dict[str, float]:
    if not latencies:
        return {"n": 0, "rps": 0.0, "p50_ms": float("nan"), "p99_ms": float("nan"), "mean_ms": float("nan")}
    ms = np.asarray(latencies) * 1e3
    return {
        "n": len(ms),
        "rps": round(len(ms) / seconds, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "mean_ms": round(float(ms.mean()), 3),
    }


def table(headers: list[str], rows: list[list[object]]) -> str:
    """Plain aligned columns: text left, numbers right."""
    cells = [[str(h) for h in headers]] + [[f"{c:.3f}" if isinstance(c, float) else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def numeric(text: str) -> bool:
        return re.fullmatch(r"-?[\d.]+x?|nan|-", text) is not None

    def line(row: list[str]) -> str:
        return "  ".join(c.rjust(w) if numeric(c) else c.ljust(w) for c, w in zip(row, widths, strict=True))

    lines = [line(row) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


# -------------------------------------------------------------------------------------------------- main


async def run(args: argparse.Namespace) -> dict[str, object]:
    python = sys.executable
    speech_port, floor_port = free_port(), free_port()
    flags = serve_flags(args, speech_port)
    inproc = InProcess(flags, args.text)
    await inproc.engine.start()
    response_bytes = len(await inproc.one())
    await inproc.asgi()
    calibration = await drive(inproc.call, 1, 0.2, 1.0)  # the engine's time, for the floor server to hold
    hold = float(np.median(calibration))
    serve_cmd = [python, "-m", "voxdeploy", "serve", *flags]
    floor_cmd = [
        python,
        str(Path(__file__).resolve()),
        "--floor-server",
        str(floor_port),
        "--floor-bytes",
        str(response_bytes),
        "--floor-hold",
        f"{hold:.6f}",
    ]
    speech_base, floor_base = f"http://127.0.0.1:{speech_port}", f"http://127.0.0.1:{floor_port}"
    body = json.dumps({"input": args.text, "response_format": "wav", "stream": False, "sample_rate": 48000}).encode()
    server_cpu = 1 if args.pin else None
    samples: dict[int, dict[str, list[float]]] = {c: {p: [] for p in PATHS} for c in args.levels}
    holds: dict[int, list[float]] = {c: [] for c in args.levels}
    per_round = args.seconds / args.rounds

    with (
        server(serve_cmd, speech_base + "/ready", server_cpu, "runtime"),
        server(floor_cmd, floor_base + "/", server_cpu, "floor"),
    ):
        async with Client(args.client, speech_base, 1) as check:
            await check.post("/v1/audio/speech", body)()  # fail fast if the server refuses the request
        for concurrency in args.levels:
            for round_index in range(args.rounds):
                for path in PATHS:
                    if path == "in-process":
                        got = await drive(inproc.call, concurrency, args.warmup, per_round)
                    elif path == "asgi direct":
                        got = await drive(inproc.asgi, concurrency, args.warmup, per_round)
                    else:
                        base = floor_base if path == "http floor" else speech_base
                        async with Client(args.client, base, concurrency) as client:
                            call = (
                                client.get("/health")
                                if path == "http health"
                                else client.post("/v1/audio/speech", body)
                            )
                            if path == "http floor":
                                floor_holds(floor_base)
                            got = await drive(call, concurrency, args.warmup, per_round)
                            if path == "http floor":
                                holds[concurrency] += floor_holds(floor_base)
                    samples[concurrency][path] += got
                    print(
                        f"# {concurrency:3d} clients, round {round_index + 1}/{args.rounds}, {path:<11}: "
                        f"{len(got):6d} requests in {per_round:g} s",
                        file=sys.stderr,
                        flush=True,
                    )

    results: dict[str, object] = {}
    for concurrency in args.levels:
        level: dict[str, object] = {path: stats(samples[concurrency][path], args.seconds) for path in PATHS}
        inp, app, http = level["in-process"], level["asgi direct"], level["http speech"]
        for q in ("p50", "p99", "mean"):
            level[f"added_{q}_ms"] = round(http[f"{q}_ms"] - inp[f"{q}_ms"], 3)
            level[f"app_{q}_ms"] = round(app[f"{q}_ms"] - inp[f"{q}_ms"], 3)
            level[f"server_transport_client_{q}_ms"] = round(http[f"{q}_ms"] - app[f"{q}_ms"], 3)
        held = holds[concurrency]
        level["floor_hold_p50_ms"] = round(float(np.median(held)), 3) if held else 0.0
        level["floor_net_client_p50_ms"] = round(level["http floor"]["p50_ms"] - level["floor_hold_p50_ms"], 3)
        level["added_minus_floor_p50_ms"] = round(level["added_p50_ms"] - level["floor_net_client_p50_ms"], 3)
        results[str(concurrency)] = level
    return {
        "response_bytes": response_bytes,
        "serve_command": serve_cmd,
        "floor_hold_ms": round(hold * 1e3, 3),
        "levels": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="1,16,64", help="concurrent clients, comma-separated [1,16,64]")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per path and level [5]")
    parser.add_argument("--warmup", type=float, default=0.5, help="discarded seconds before each phase [0.5]")
    parser.add_argument("--rounds", type=int, default=4, help="alternate the paths this many times [4]")
    parser.add_argument("--text", default="Hi", help="input text of every request [Hi: one 0.16 s chunk]")
    parser.add_argument("--client", choices=("aiohttp", "httpx"), default=None, help="[aiohttp if installed]")
    parser.add_argument("--sim-rtf", type=float, default=0.01)
    parser.add_argument("--sim-first-audio", type=float, default=0.005)
    parser.add_argument("--sim-batch-capacity", type=int, default=256)
    parser.add_argument("--max-concurrent", type=int, default=256)
    parser.add_argument("--max-queue", type=int, default=1024)
    parser.add_argument("--pin", action="store_true", help="this process on CPU 0, the servers on CPU 1")
    parser.add_argument("--floor-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--floor-bytes", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--floor-hold", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_server:
        serve_floor(args.floor_server, args.floor_bytes, args.floor_hold)
        return
    args.levels = [int(level) for level in args.levels.split(",")]
    if args.client is None:
        try:
            import aiohttp  # noqa: F401

            args.client = "aiohttp"
        except ImportError:
            args.client = "httpx"
    if args.pin:
        os.sched_setaffinity(0, {0})

    import uvloop

    started = time.perf_counter()
    report = uvloop.run(run(args))
    wall = time.perf_counter() - started

    print(
        f"runtime overhead: sim rtf {args.sim_rtf} first-audio {args.sim_first_audio} s, text {args.text!r} "
        f"-> {report['response_bytes']} B wav; client {args.client}; {args.seconds:g} s per path and level in "
        f"{args.rounds} round(s); floor holds {report['floor_hold_ms']:.2f} ms; {os.cpu_count()} CPUs"
        f"{', pinned' if args.pin else ''}; wall {wall:.0f} s"
    )
    print(f"server: {' '.join(report['serve_command'][1:])}")
    print()
    rows = []
    for concurrency, level in report["levels"].items():
        for path in PATHS:
            s = level[path]
            rows.append([concurrency, path, s["n"], s["rps"], s["p50_ms"], s["p99_ms"], s["mean_ms"]])
    print(table(["clients", "path", "requests", "req/s", "p50 ms", "p99 ms", "mean ms"], rows))
    print()
    rows = []
    for concurrency, level in report["levels"].items():
        inp, http = level["in-process"], level["http speech"]
        rows.append(
            [
                concurrency,
                level["added_p50_ms"],
                level["added_p99_ms"],
                level["app_p50_ms"],
                level["server_transport_client_p50_ms"],
                level["floor_net_client_p50_ms"],
                level["added_minus_floor_p50_ms"],
                inp["rps"],
                level["asgi direct"]["rps"],
                http["rps"],
                round(http["rps"] / inp["rps"], 2) if inp["rps"] else "-",
            ]
        )
    print(
        table(
            [
                "clients",
                "added p50",
                "added p99",
                "app p50",
                "uvicorn+net+client p50",
                "floor net+client p50",
                "added-floor p50",
                "in-proc req/s",
                "asgi req/s",
                "http req/s",
                "http/in-proc",
            ],
            rows,
        )
    )
    print(
        "(ms; added = http speech - in-process; app = asgi direct - in-process; uvicorn+net+client = http speech"
        " - asgi direct; floor net+client = floor p50 - its hold p50)"
    )
    one = report["levels"].get("1")
    if one is not None:
        added = one["added_p50_ms"]
        beyond = one["added_minus_floor_p50_ms"]
        print(
            f"\ngoal 'the server adds under 1 ms at p50' (1 client): {added:.3f} ms with the client and loopback "
            f"-> {'MET' if added < 1.0 else 'NOT MET'}; {beyond:.3f} ms beyond the floor (client + loopback "
            f"{one['floor_net_client_p50_ms']:.3f} ms) -> {'MET' if beyond < 1.0 else 'NOT MET'}"
        )
    report.update(
        {
            "benchmark": "runtime_overhead",
            "client": args.client,
            "text": args.text,
            "seconds": args.seconds,
            "rounds": args.rounds,
            "sim_rtf": args.sim_rtf,
            "sim_first_audio": args.sim_first_audio,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "wall_s": round(wall, 1),
        }
    )
    report.pop("serve_command")
    print(json.dumps(report, separators=(",", ":")))


if __name__ == "__main__":
    main()
