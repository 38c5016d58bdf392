"""Requests/s one Locust worker sustains with voxdeploy's locustfile, so users know when to add workers.

First, what our locustfile costs the load generator: a bare `FastHttpUser` posting to /v1/audio/speech and our
locustfile, taking turns (--rounds) against a trivial endpoint (a fixed 0.1 s WAV, no work), Locust pinned to one
core and the endpoint to another; Locust's own request count for both, and ours as a share of bare Locust's.
Then two targets with our locustfile: the trivial endpoint and the simulator runtime made nearly free
(`--sim-rtf 0.001`), each with 1 worker process, then with --processes 2.

Usage: python benchmarks/locust_capacity.py [--users 32] [--duration 10] [--rounds 3] [--generator-only]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from voxdeploy.cli.common import free_port
from voxdeploy.contracts.api import SPEECH_PATH
from voxdeploy.contracts.model import MODEL_ID
from voxdeploy.loadtests.results import measure
from voxdeploy.loadtests.runner import LOCUSTFILE, LoadTestOptions, run_locust

TRIVIAL_APP = """
import io, wave
def wav():
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1); w.setsampwidth(2); w.setframerate(48000); w.writeframes(b"\\0\\0" * 4800)
    return buffer.getvalue()
BODY = wav()
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"audio/wav")]})
    await send({"type": "http.response.body", "body": BODY})
"""

BARE_LOCUSTFILE = f"""
from locust import FastHttpUser, constant, task

class Bare(FastHttpUser):
    wait_time = constant(0)

    @task
    def speak(self):
        self.client.post({SPEECH_PATH!r}, json={{"model": {MODEL_ID!r}, "input": "Hello.", "voice": "default"}})
"""

OURS_ARGS = ("--voxdeploy-sizes", "short=1", "--voxdeploy-stream-ratio", "0", "--voxdeploy-quiet")
"""Our locustfile as the bare one is used: whole (not streamed) short texts; its records go to a file at the end."""


def pinned(core: int):
    """A preexec_fn that pins the child to one core, so the two sides of a comparison get the same CPU."""
    cores = sorted(os.sched_getaffinity(0))
    return lambda: os.sched_setaffinity(0, {cores[core % len(cores)]})


def locust_requests_per_s(locustfile: Path, extra: tuple[str, ...], host: str, users: int, seconds: float) -> float:
    """Locust's own count of requests (its --json stats at the end) over the run time, on core 0."""
    command = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "--only-summary", "--json"]
    command += ["--host", host, "-u", str(users), "-r", str(users), "-t", f"{seconds:g}s", *extra]
    done = subprocess.run(command, capture_output=True, text=True, check=True, preexec_fn=pinned(0), timeout=300)
    entries = json.loads(done.stdout)
    return sum(e["num_requests"] for e in entries) / seconds


def generator_cost(work: Path, host: str, users: int, seconds: float, rounds: int) -> dict[str, object]:
    (work / "bare_locustfile.py").write_text(BARE_LOCUSTFILE)
    records = ("--voxdeploy-records", str(work / "records.jsonl"))
    bare, ours = [], []
    for round_ in range(1, rounds + 1):
        print(f"round {round_}/{rounds}: bare FastHttpUser, then ours, {users} users, {seconds:g} s", file=sys.stderr)
        bare.append(locust_requests_per_s(work / "bare_locustfile.py", (), host, users, seconds))
        ours.append(locust_requests_per_s(LOCUSTFILE, (*OURS_ARGS, *records), host, users, seconds))
    return {
        "bare_requests_per_s": bare,
        "ours_requests_per_s": ours,
        "ratios": [o / b for o, b in zip(ours, bare, strict=True)],
        "median_ratio": statistics.median(o / b for o, b in zip(ours, bare, strict=True)),
    }


def start(command: list[str], port: int, cwd: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=pinned(1)
    )
    for _ in range(200):
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5)
            return process
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit(f"{command} did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3, help="turns of bare Locust and ours [3]")
    parser.add_argument("--generator-only", action="store_true", help="only bare Locust against ours")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "trivial_app.py").write_text(TRIVIAL_APP)
        targets: dict = {
            "trivial endpoint": lambda port: [
                sys.executable,
                "-m",
                "uvicorn",
                "trivial_app:app",
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            "sim runtime": lambda port: [
                sys.executable,
                "-m",
                "voxdeploy",
                "serve",
                "--engine",
                "sim",
                "--port",
                str(port),
                "--sim-rtf",
                "0.001",
                "--sim-first-audio",
                "0",
                "--sim-batch-capacity",
                "256",
                "--max-concurrent",
                "256",
            ],
        }
        generator = None
        for target, command in targets.items():
            if args.generator_only and target != "trivial endpoint":
                continue
            port = free_port()
            server = start(command(port), port, work)
            try:
                if target == "trivial endpoint":
                    host = f"http://127.0.0.1:{port}"
                    generator = generator_cost(work, host, args.users, args.duration, args.rounds)
                for processes in () if args.generator_only else (1, 2):
                    print(
                        f"{target}, {processes} Locust process(es), {args.users} users, {args.duration:g} s ...",
                        file=sys.stderr,
                    )
                    options = LoadTestOptions(
                        host=f"http://127.0.0.1:{port}",
                        users=args.users,
                        spawn_rate=args.users,
                        duration_seconds=args.duration,
                        processes=processes,
                        sizes="short=1",
                        stream_ratio=0,
                        quiet=True,
                    )
                    measured = measure(run_locust(options, work / f"{port}-{processes}"), 60, 100)
                    rows.append(
                        {
                            "target": target,
                            "processes": processes,
                            "requests_per_s": measured.qps,
                            "p50_ms": (measured.latency_p50 or 0) * 1000,
                            "failures": measured.failures,
                        }
                    )
            finally:
                server.terminate()
                server.wait(30)
    assert generator is not None
    print("load generator, one pinned core, trivial endpoint (Locust's request count):")
    print(f"{'ROUND':>5} {'BARE REQ/S':>11} {'OURS REQ/S':>11} {'OURS/BARE':>10}")
    for i, (bare, ours) in enumerate(
        zip(generator["bare_requests_per_s"], generator["ours_requests_per_s"], strict=True), 1
    ):
        print(f"{i:>5} {bare:>11.0f} {ours:>11.0f} {ours / bare:>10.0%}")
    print(f"median ours/bare: {generator['median_ratio']:.0%}\n")
    if rows:
        print(f"{'TARGET':<18} {'PROCESSES':>9} {'REQ/S':>8} {'P50 MS':>8} {'FAILURES':>8}")
    for row in rows:
        print(
            f"{row['target']:<18} {row['processes']:>9} {row['requests_per_s']:>8.0f} {row['p50_ms']:>8.1f} "
            f"{row['failures']:>8}"
        )
    print(json.dumps({"generator": generator, "capacity": rows}))


if __name__ == "__main__":
    main()
