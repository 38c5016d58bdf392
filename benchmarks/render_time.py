"""Wall time of `voxdeploy render` as a whole process (start-up included), median of N runs.

Usage: python benchmarks/render_time.py [--stack prod] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    times = []
    with tempfile.TemporaryDirectory() as out:
        for _ in range(args.runs):
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "voxdeploy", "render", "--stack", args.stack, "--out", out],
                check=True,
                capture_output=True,
            )
            times.append(time.perf_counter() - start)
    print(f"render --stack {args.stack}: runs {' '.join(f'{t:.3f}' for t in times)} s")
    print(f"median {statistics.median(times):.3f} s over {args.runs} runs")


if __name__ == "__main__":
    main()
