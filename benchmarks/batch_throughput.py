"""Does the batch runner keep a server as busy as a saturating Locust run does? Both against one simulator runtime,
side by side in one run, sending the same corpus mix (whole WAV answers, nothing streamed):

  locust   voxdeploy's locustfile, --users clients for --duration seconds: what the server can do
  batch    `voxdeploy batch run`'s runner on as many requests as Locust finished, at --concurrency (or --adaptive)

The server is the bottleneck by construction (--slots requests synthesized at once, a queue behind them), so both
should reach its capacity; the batch runner must reach at least 95 % of Locust's audio-seconds per second. Rounds
alternate the two (--rounds) and the figures are pooled, so a noisy machine hits both alike.

Usage: .venv/bin/python benchmarks/batch_throughput.py [--duration 20] [--users 16] [--slots 8] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from voxdeploy.cli.common import free_port
from voxdeploy.loadtests.batch.runner import BatchOptions
from voxdeploy.loadtests.batch.runner import run as run_batch
from voxdeploy.loadtests.corpus import parse_mix, pick
from voxdeploy.loadtests.runner import LoadTestOptions, run_locust

SIZES, LANGUAGES = "short=0.5,medium=0.5", "en=0.5,zh=0.5"
GOAL = 0.95


def start_server(port: int, slots: int, rtf: float) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "voxdeploy", "serve", "--engine", "sim", "--port", str(port)]
    command += ["--sim-rtf", str(rtf), "--sim-first-audio", "0.05", "--sim-batch-capacity", str(slots)]
    command += ["--max-concurrent", str(slots), "--max-queue", "256", "--log-level", "WARNING"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=0.5).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    process.kill()
    raise SystemExit("the simulator runtime did not start")


def locust_round(host: str, args: argparse.Namespace, out: Path) -> tuple[int, float, float]:
    """(requests, audio seconds, wall seconds) of the requests that succeeded."""
    options = LoadTestOptions(
        host=host,
        users=args.users,
        spawn_rate=args.users,
        duration_seconds=args.duration,
        sizes=SIZES,
        languages=LANGUAGES,
        stream_ratio=0.0,
        quiet=True,
    )
    records = [r for r in run_locust(options, out) if r.ok]
    first = min(r.start for r in records)
    wall = max(r.start + r.latency for r in records) - first
    return len(records), sum(r.audio_seconds or 0 for r in records), wall


def batch_round(host: str, args: argparse.Namespace, count: int, out: Path, seed: int) -> tuple[int, float, float]:
    rng = random.Random(seed)
    sizes, languages = parse_mix(SIZES, ("short", "medium", "long")), parse_mix(LANGUAGES, ("en", "zh"))
    source = out / "requests.txt"
    out.mkdir(parents=True, exist_ok=True)
    source.write_text("".join(pick(rng, sizes, languages).text.replace("\n", " ") + "\n" for _ in range(count)))
    options = BatchOptions(
        input=source,
        output=out / "results",
        host=host,
        concurrency=args.users,
        adaptive=args.adaptive,
        progress=False,
    )
    summary = run_batch(options).summary
    return summary.succeeded, summary.audio_hours * 3600, summary.wall_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of each Locust round [20]")
    parser.add_argument("--users", type=int, default=16, help="Locust users and batch concurrency [16]")
    parser.add_argument("--slots", type=int, default=8, help="requests the server synthesizes at once [8]")
    parser.add_argument("--rtf", type=float, default=0.05, help="the simulator's RTF [0.05]")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of each [2]")
    parser.add_argument("--adaptive", action="store_true", help="the batch runner finds its own concurrency")
    args = parser.parse_args()

    port = free_port()
    host = f"http://127.0.0.1:{port}"
    server = start_server(port, args.slots, args.rtf)
    totals = {"locust": [0, 0.0, 0.0], "batch": [0, 0.0, 0.0]}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for round_ in range(args.rounds):
                print(f"round {round_ + 1}: locust {args.users} users, {args.duration:g} s ...", file=sys.stderr)
                figures = locust_round(host, args, Path(tmp) / f"locust-{round_}")
                totals["locust"] = [a + b for a, b in zip(totals["locust"], figures, strict=True)]
                print(f"round {round_ + 1}: batch of {figures[0]} requests ...", file=sys.stderr)
                done = batch_round(host, args, figures[0], Path(tmp) / f"batch-{round_}", seed=round_)
                totals["batch"] = [a + b for a, b in zip(totals["batch"], done, strict=True)]
    finally:
        server.terminate()
        server.wait(timeout=30)

    rates = {
        tool: {"requests": int(n), "requests_per_s": n / wall, "audio_s_per_s": audio / wall, "wall_s": wall}
        for tool, (n, audio, wall) in totals.items()
    }
    ratio = rates["batch"]["audio_s_per_s"] / rates["locust"]["audio_s_per_s"]
    print(f"\n{'tool':8} {'requests':>9} {'req/s':>8} {'audio s/s':>10} {'wall s':>8}")
    for tool, rate in rates.items():
        print(
            f"{tool:8} {rate['requests']:>9} {rate['requests_per_s']:>8.2f} {rate['audio_s_per_s']:>10.1f} "
            f"{rate['wall_s']:>8.1f}"
        )
    verdict = "meets" if ratio >= GOAL else "MISSES"
    print(f"\nbatch / locust audio throughput: {ratio:.3f} ({verdict} the {GOAL:.0%} goal)")
    print(json.dumps({"rates": rates, "ratio": ratio, "settings": vars(args)}))


if __name__ == "__main__":
    main()
