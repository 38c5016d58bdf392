"""Requests/s one Locust worker sustains with voxdeploy's locustfile, so users know when to add workers.

Two targets, side by side in one run: a trivial endpoint (a fixed 0.1 s WAV, no work; what the load
generator alone costs) and the simulator runtime made nearly free (`--sim-rtf 0.001`). Each with
1 worker process, then with --processes 2.

Usage: python benchmarks/locust_capacity.py [--users 32] [--duration 10]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from voxdeploy.cli.common import free_port
from voxdeploy.loadtests.results import measure
from voxdeploy.loadtests.runner import LoadTestOptions, run_locust

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


def start(command: list[str], port: int, cwd: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "trivial_app.py").write_text(TRIVIAL_APP)
        targets = {
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
        for target, command in targets.items():
            port = free_port()
            server = start(command(port), port, work)
            try:
                for processes in (1, 2):
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
    print(f"{'TARGET':<18} {'PROCESSES':>9} {'REQ/S':>8} {'P50 MS':>8} {'FAILURES':>8}")
    for row in rows:
        print(
            f"{row['target']:<18} {row['processes']:>9} {row['requests_per_s']:>8.0f} {row['p50_ms']:>8.1f} "
            f"{row['failures']:>8}"
        )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
