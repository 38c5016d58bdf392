"""`voxdeploy loadtest` and `voxdeploy demo`: the release gate, and the whole product on one machine."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path

from voxdeploy.cli_common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, add_stack_arguments, free_port, load_stack_from
from voxdeploy.loadtests.corpus import DEFAULT_LANGUAGE_MIX, DEFAULT_SIZE_MIX


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    loadtest = sub.add_parser("loadtest", help="load-test a speech endpoint with Locust and gate on the stack's SLO")
    add_stack_arguments(loadtest)
    loadtest.add_argument("--host", required=True, help="base URL of the speech API, e.g. http://127.0.0.1:8000")
    _add_load_arguments(loadtest, users=10, duration="30s", report="out/loadtest")
    loadtest.add_argument(
        "--scenario",
        choices=("steady", "burst", "benchmark"),
        default="steady",
        help="steady users, bursts to --users, or the benchmark table over --levels [steady]",
    )
    loadtest.add_argument("--levels", default="10,50,100", help="benchmark concurrencies [10,50,100]")
    loadtest.set_defaults(handler=cmd_loadtest)

    demo = sub.add_parser(
        "demo", help="serve the simulator, render the dev stack, load-test it, report (no GPU needed)"
    )
    _add_load_arguments(demo, users=4, duration="15s", report="out/demo")
    demo.set_defaults(handler=cmd_demo, stack="dev", stacks_dir=None)


def _add_load_arguments(parser: argparse.ArgumentParser, users: int, duration: str, report: str) -> None:
    parser.add_argument("--users", "-u", type=int, default=users, help=f"concurrent users [{users}]")
    parser.add_argument("--spawn-rate", "-r", type=float, default=10.0, help="users started per second [10]")
    parser.add_argument("--duration", "-t", default=duration, help=f"run time, e.g. 60s, 5m [{duration}]")
    parser.add_argument("--processes", type=int, default=1, help="Locust worker processes [1]")
    parser.add_argument("--report", type=Path, default=Path(report), help=f"report directory [{report}]")
    parser.add_argument("--sizes", default=DEFAULT_SIZE_MIX, help="text length mix")
    parser.add_argument("--languages", default=DEFAULT_LANGUAGE_MIX, help="language mix")
    parser.add_argument("--stream-ratio", type=float, default=0.5, help="share of streamed requests [0.5]")
    parser.add_argument("--seed", type=int, default=0, help="seed of the text picks [0]")


def _options(args: argparse.Namespace, host: str, scenario: str):
    from voxdeploy.loadtests.runner import LoadTestOptions, parse_duration

    return LoadTestOptions(
        host=host,
        users=args.users,
        spawn_rate=args.spawn_rate,
        duration_seconds=parse_duration(args.duration),
        processes=args.processes,
        scenario=scenario,
        sizes=args.sizes,
        languages=args.languages,
        stream_ratio=args.stream_ratio,
        seed=args.seed,
    )


def _print_gate(result, report: Path) -> int:
    from voxdeploy.infra.plan import table

    rows = [
        (
            v.target,
            f"{v.comparison} {v.threshold:g}",
            "n/a" if v.measured is None else f"{v.measured:.4g}",
            "PASS" if v.passed else "FAIL",
        )
        for v in result.verdicts
    ]
    measured = result.measured
    print(
        f"\n{measured.requests} requests, {measured.failures} failed, {measured.qps:.2f} req/s, "
        f"goodput {measured.goodput:.2f} req/s over {measured.duration_seconds:.1f} s"
    )
    print(table(("TARGET", "BOUND", "MEASURED", "RESULT"), rows))
    failing = [v.target for v in result.verdicts if not v.passed]
    print("\ngate PASSED" if not failing else f"\ngate FAILED: {', '.join(failing)}")
    print(f"reports: {report}/report.html, {report}/summary.json, {report}/locust.html")
    return EXIT_OK if result.passed else EXIT_FAILED


def cmd_loadtest(args: argparse.Namespace) -> int:
    from voxdeploy.loadtests.runner import LoadTestError, benchmark, run

    stack = load_stack_from(args)
    try:
        if args.scenario == "benchmark":
            levels = _levels(args.levels)
            rows = benchmark(_options(args, args.host, "steady"), levels, stack.config.slo, args.report)
            _print_benchmark(rows)
            return EXIT_OK
        result = run(_options(args, args.host, args.scenario), stack.config.slo, args.report, stack.name)
    except LoadTestError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    return _print_gate(result, args.report)


def _levels(text: str) -> list[int]:
    from voxdeploy.loadtests.runner import LoadTestError

    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise LoadTestError(f"--levels {text!r} must be comma-separated user counts, e.g. 10,50,100") from None
    if not levels or min(levels) < 1:
        raise LoadTestError(f"--levels {text!r} must list user counts >= 1")
    return levels


def _print_benchmark(rows) -> None:
    from voxdeploy.infra.plan import table

    def cell(value: float | None, scale: float = 1.0, digits: int = 3) -> str:
        return "n/a" if value is None else f"{value * scale:.{digits}g}"

    print(
        table(
            ("CONCURRENCY", "MEAN LATENCY (ms)", "P95 LATENCY (ms)", "REQUESTS/S", "RTF (mean)", "ERRORS"),
            [
                (
                    users,
                    cell(m.latency_mean, 1000, 4),
                    cell(m.latency_p95, 1000, 4),
                    cell(m.qps, 1, 4),
                    cell(m.rtf_mean),
                    m.failures,
                )
                for users, m in rows
            ],
        )
    )


def _start_runtime(port: int, log: Path) -> subprocess.Popen[bytes]:
    import httpx

    command = [
        sys.executable,
        "-m",
        "voxdeploy",
        "serve",
        "--stack",
        "dev",
        "--engine",
        "sim",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    print(f"starting the runtime: {' '.join(command[1:])}")
    process = subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"the runtime did not become ready; its log: {log}")


def cmd_demo(args: argparse.Namespace) -> int:
    from voxdeploy.infra.builders import build_objects
    from voxdeploy.infra.render import render_files, write_directory
    from voxdeploy.loadtests.runner import LoadTestError, run

    stack = load_stack_from(args)
    out: Path = args.report
    out.mkdir(parents=True, exist_ok=True)
    rendered = write_directory(render_files(build_objects(stack.config), stack.name), out / "rendered")
    print(f"rendered the dev stack: {len(rendered)} files in {out / 'rendered'}/")
    port = free_port()
    try:
        runtime = _start_runtime(port, out / "runtime.log")
    except RuntimeError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    try:
        print(
            f"load-testing http://127.0.0.1:{port} with {args.users} users for {args.duration} "
            f"(simulated engine: no GPU; timings are the simulator's, not VoxCPM2's)"
        )
        result = run(
            _options(args, f"http://127.0.0.1:{port}", "steady"), stack.config.slo, out / "loadtest", stack.name
        )
    except LoadTestError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        runtime.send_signal(signal.SIGTERM)
        runtime.wait(60)
    return _print_gate(result, out / "loadtest")
