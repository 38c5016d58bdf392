"""Which HTTP stack should serve the runtime: the same trivial handler on each, measured side by side.

The handler is a POST that parses a small JSON body (like a speech request) and answers 2048 bytes of
application/octet-stream. Each stack runs in its own subprocess on 127.0.0.1 (this script with --serve):

  starlette     Starlette on uvicorn (httptools, uvloop): what the runtime uses (runtime/server.py).
  uvicorn-asgi  a bare ASGI callable on the same uvicorn: the server alone, so Starlette's share shows.
  aiohttp       aiohttp.web on uvloop.
  fastapi       FastAPI on the same uvicorn, only where it is installed (it is not a dependency).

All are driven by the same load generator at each connection level (default 1, 16, 64): `wrk` (one
thread, keep-alive, a Lua script for the POST) when it is on PATH, else this script's async Python client
(aiohttp or httpx) in a separate process. The stacks alternate round by round (--rounds) at each level,
and the median of the rounds is reported, so drift on a noisy machine hits every stack alike. Reported:
requests/s, p50 and p99 latency, errors, and each stack relative to starlette. A plain table, then one
JSON line (the last line of stdout).

Usage:
    .venv/bin/python benchmarks/http_stacks.py
    .venv/bin/python benchmarks/http_stacks.py --seconds 4 --rounds 3 --levels 1,16,64 --client wrk
    .venv/bin/python benchmarks/http_stacks.py --pin   # load generator on CPU 0, servers on CPU 1

Needs the runtime extra; aiohttp comes with `pip install -e '.[bench]'`; wrk with `apt-get install wrk`.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from runtime_overhead import Client, drive, free_port, server, table

PAYLOAD = bytes(range(256)) * 8  # 2048 bytes
REQUEST = {"input": "Hello from the benchmark.", "voice": "default", "response_format": "wav"}
STACKS = ("starlette", "uvicorn-asgi", "aiohttp", "fastapi")
LUA = """
wrk.method = "POST"
wrk.body = '%s'
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, ' ..
    '"mean_us": %%.1f, "errors": %%d, "status_errors": %%d}\\n', summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), latency.mean, e.connect + e.read + e.write + e.timeout,
    e.status))
end
"""


# ------------------------------------------------------------------------------------------------ servers


def parse(body: bytes) -> None:
    fields = json.loads(body)
    if not isinstance(fields, dict) or not isinstance(fields.get("input"), str):
        raise ValueError("input missing")


def serve(stack: str, port: int) -> None:
    if stack == "aiohttp":
        serve_aiohttp(port)
        return
    import uvicorn

    if stack == "starlette":
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import JSONResponse, Response
        from starlette.routing import Route

        async def bench(request: Request) -> Response:
            try:
                parse(await request.body())
            except ValueError:
                return JSONResponse({"error": "bad body"}, status_code=400)
            return Response(PAYLOAD, media_type="application/octet-stream")

        async def health(_: Request) -> Response:
            return JSONResponse({"status": "ok"})

        app = Starlette(routes=[Route("/health", health), Route("/bench", bench, methods=["POST"])])
    elif stack == "fastapi":
        from fastapi import FastAPI, Request
        from fastapi.responses import JSONResponse, Response

        app = FastAPI()

        @app.post("/bench")
        async def bench(request: Request) -> Response:
            try:
                parse(await request.body())
            except ValueError:
                return JSONResponse({"error": "bad body"}, status_code=400)
            return Response(PAYLOAD, media_type="application/octet-stream")

        @app.get("/health")
        async def health() -> dict[str, str]:
            return {"status": "ok"}
    else:
        app = bare_asgi
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        http="httptools",
        loop="uvloop",
        access_log=False,
        log_level="warning",
        lifespan="off",
    )


async def bare_asgi(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    """The handler as a raw ASGI callable: no routing objects, no Request, no Response."""
    if scope["path"] == "/health":
        body, status, kind = b'{"status":"ok"}', 200, b"application/json"
    else:
        chunks, more = [], True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        try:
            parse(b"".join(chunks))
            body, status, kind = PAYLOAD, 200, b"application/octet-stream"
        except ValueError:
            body, status, kind = b'{"error":"bad body"}', 400, b"application/json"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def serve_aiohttp(port: int) -> None:
    import uvloop
    from aiohttp import web

    async def bench(request: web.Request) -> web.Response:
        try:
            parse(await request.read())
        except ValueError:
            return web.json_response({"error": "bad body"}, status=400)
        return web.Response(body=PAYLOAD, content_type="application/octet-stream")

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/bench", bench)
    app.router.add_get("/health", health)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, loop=uvloop.new_event_loop())


# ------------------------------------------------------------------------------------------- load drivers


def wrk_cell(url: str, connections: int, seconds: float, script: str, cpu: int | None) -> dict[str, float]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s", "-s", script, url]
    preexec = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
    done = subprocess.run(command, capture_output=True, text=True, check=True, preexec_fn=preexec)
    line = next(line for line in done.stdout.splitlines() if line.startswith("WRKJSON "))
    raw = json.loads(line.removeprefix("WRKJSON "))
    return {
        "rps": raw["requests"] / (raw["duration_us"] / 1e6),
        "p50_ms": raw["p50_us"] / 1e3,
        "p99_ms": raw["p99_us"] / 1e3,
        "mean_ms": raw["mean_us"] / 1e3,
        "requests": raw["requests"],
        "errors": raw["errors"] + raw["status_errors"],
    }


def python_cell(url: str, connections: int, seconds: float, client: str, cpu: int | None) -> dict[str, float]:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--drive",
        url,
        "--connections",
        str(connections),
        "--seconds",
        str(seconds),
        "--client",
        client,
    ]
    preexec = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
    done = subprocess.run(command, capture_output=True, text=True, check=True, preexec_fn=preexec)
    return json.loads(done.stdout.splitlines()[-1])


def drive_main(url: str, connections: int, seconds: float, client: str) -> None:
    """--drive: closed-loop POSTs from `connections` keep-alive connections; one JSON line of results."""
    import numpy as np
    import uvloop

    base, path = url.split("/bench")[0], "/bench"
    body = json.dumps(REQUEST).encode()

    async def main() -> list[float]:
        async with Client(client, base, connections) as session:
            return await drive(session.post(path, body), connections, 0.3, seconds)

    latencies = np.asarray(uvloop.run(main())) * 1e3
    print(
        json.dumps(
            {
                "rps": len(latencies) / seconds,
                "p50_ms": float(np.percentile(latencies, 50)),
                "p99_ms": float(np.percentile(latencies, 99)),
                "mean_ms": float(latencies.mean()),
                "requests": len(latencies),
                "errors": 0,
            }
        )
    )


# -------------------------------------------------------------------------------------------------- main


def check(url: str) -> None:
    request = urllib.request.Request(
        url, data=json.dumps(REQUEST).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        body = response.read()
    if response.status != 200 or body != PAYLOAD:
        raise RuntimeError(f"{url}: HTTP {response.status}, {len(body)} bytes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="1,16,64", help="connections, comma-separated [1,16,64]")
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds per stack, level and round [4]")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the median is reported [3]")
    parser.add_argument("--stacks", default=",".join(STACKS), help=f"comma-separated, of {', '.join(STACKS)}")
    parser.add_argument(
        "--client",
        choices=("wrk", "aiohttp", "httpx"),
        default=None,
        help="load generator [wrk if on PATH, else aiohttp if installed, else httpx]",
    )
    parser.add_argument("--pin", action="store_true", help="load generator on CPU 0, servers on CPU 1")
    parser.add_argument("--serve", choices=STACKS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--drive", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--connections", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    if args.drive:
        drive_main(args.drive, args.connections, args.seconds, args.client)
        return
    levels = [int(level) for level in args.levels.split(",")]
    if args.client is None:
        args.client = "wrk" if shutil.which("wrk") else "aiohttp" if importlib.util.find_spec("aiohttp") else "httpx"
    stacks, skipped = [], []
    for stack in args.stacks.split(","):
        needs = {"aiohttp": "aiohttp", "fastapi": "fastapi"}.get(stack)
        (skipped if needs and importlib.util.find_spec(needs) is None else stacks).append(stack)
    load_cpu, server_cpu = (0, 1) if args.pin else (None, None)

    started = time.perf_counter()
    cells: dict[tuple[int, str], list[dict[str, float]]] = {(c, s): [] for c in levels for s in stacks}
    commands: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack_ctx:
        script = str(Path(tmp, "post.lua"))
        Path(script).write_text(LUA % json.dumps(REQUEST))
        urls = {}
        for name in stacks:
            port = free_port()
            command = [sys.executable, str(Path(__file__).resolve()), "--serve", name, "--port", str(port)]
            commands[name] = " ".join(command)
            stack_ctx.enter_context(server(command, f"http://127.0.0.1:{port}/health", server_cpu, name))
            urls[name] = f"http://127.0.0.1:{port}/bench"
            check(urls[name])

        def cell(name: str, connections: int, seconds: float) -> dict[str, float]:
            if args.client == "wrk":
                return wrk_cell(urls[name], connections, seconds, script, load_cpu)
            return python_cell(urls[name], connections, seconds, args.client, load_cpu)

        for name in stacks:  # warm-up, discarded
            cell(name, max(levels), 1)
        for connections in levels:
            for round_index in range(args.rounds):
                order = stacks[round_index % len(stacks) :] + stacks[: round_index % len(stacks)]
                for name in order:
                    result = cell(name, connections, args.seconds)
                    cells[(connections, name)].append(result)
                    print(
                        f"# {connections:3d} connections, round {round_index + 1}/{args.rounds}, {name:<12}: "
                        f"{result['rps']:8.0f} req/s, p50 {result['p50_ms']:.3f} ms",
                        file=sys.stderr,
                        flush=True,
                    )
    wall = time.perf_counter() - started

    results: dict[str, dict[str, dict[str, float]]] = {}
    for connections in levels:
        level = results.setdefault(str(connections), {})
        for name in stacks:
            runs = cells[(connections, name)]
            level[name] = {
                key: round(statistics.median(run[key] for run in runs), 3)
                for key in ("rps", "p50_ms", "p99_ms", "mean_ms")
            }
            level[name]["errors"] = sum(run["errors"] for run in runs)
            level[name]["rps_rounds"] = [round(run["rps"]) for run in runs]

    print(
        f"http stacks: POST /bench, {len(json.dumps(REQUEST))} B JSON in, {len(PAYLOAD)} B out; load {args.client}"
        f" (1 thread, keep-alive); {args.seconds:g} s x {args.rounds} rounds per cell, median shown; "
        f"{os.cpu_count()} CPUs{', pinned' if args.pin else ''}; wall {wall:.0f} s"
    )
    if skipped:
        print(f"skipped (not installed): {', '.join(skipped)}")
    for name, command in commands.items():
        print(f"{name}: {command}")
    print()
    rows = []
    for connections, level in results.items():
        base = level.get("starlette")
        for name in stacks:
            r = level[name]
            rows.append(
                [
                    connections,
                    name,
                    round(r["rps"]),
                    r["p50_ms"],
                    r["p99_ms"],
                    r["errors"],
                    f"{r['rps'] / base['rps']:.2f}x" if base else "-",
                    f"{r['p50_ms'] / base['p50_ms']:.2f}x" if base else "-",
                    " ".join(str(x) for x in r["rps_rounds"]),
                ]
            )
    print(
        table(
            [
                "conns",
                "stack",
                "req/s",
                "p50 ms",
                "p99 ms",
                "errors",
                "req/s vs starlette",
                "p50 vs starlette",
                "req/s per round",
            ],
            rows,
        )
    )
    print(
        json.dumps(
            {
                "benchmark": "http_stacks",
                "client": args.client,
                "seconds": args.seconds,
                "rounds": args.rounds,
                "pinned": args.pin,
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "skipped": skipped,
                "wall_s": round(wall, 1),
                "levels": results,
            },
            separators=(",", ":"),
        )
    )


if __name__ == "__main__":
    main()
