"""`voxdeploy loadtest`: the release gate, a Locust run against a speech endpoint judged by the stack's SLO.

The options and report printing here are `demo`'s too (voxdeploy/cli/demo.py).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from voxdeploy.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    add_stack_arguments,
    env_default,
    env_help,
    load_stack_from,
    writable_directory,
)
from voxdeploy.contracts.api import API_KEY_ENV
from voxdeploy.contracts.loadtest import LOCUST_MASTER_PORT


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    loadtest = sub.add_parser("loadtest", help="load-test a speech endpoint with Locust and gate on the stack's SLO")
    add_stack_arguments(loadtest)
    # Required unless --worker: a worker takes the host, like every other option, from its master.
    loadtest.add_argument("--host", help="base URL of the speech API, e.g. http://127.0.0.1:8000 (required)")
    add_load_arguments(loadtest, users=10, duration="30s", report="out/loadtest")
    loadtest.add_argument(
        "--scenario",
        choices=("steady", "burst", "benchmark"),
        default="steady",
        help="steady users, bursts to --users, or the benchmark table over --levels [steady]",
    )
    loadtest.add_argument("--levels", default="10,50,100", help="benchmark concurrencies [10,50,100]")
    loadtest.add_argument(
        "--log-summary",
        action="store_true",
        help="print summary.json on one line after the verdict, for a pod whose log is its only lasting output",
    )
    distributed = loadtest.add_argument_group(
        "distributed", "Locust's master and workers, as the rendered load-test Jobs run them"
    )
    distributed.add_argument(
        "--expect-workers",
        type=int,
        default=0,
        metavar="N",
        help="run as a Locust master that starts once N workers (`loadtest --worker`) have connected [0: no master]",
    )
    distributed.add_argument(
        "--master-bind-port",
        type=int,
        default=LOCUST_MASTER_PORT,
        metavar="PORT",
        help=f"port a master listens on for its workers [{LOCUST_MASTER_PORT}]",
    )
    distributed.add_argument(
        "--worker", action="store_true", help="run as a Locust worker of the master at --master-host"
    )
    distributed.add_argument("--master-host", metavar="HOST", help="the master a --worker connects to")
    distributed.add_argument(
        "--master-port",
        type=int,
        default=LOCUST_MASTER_PORT,
        metavar="PORT",
        help=f"the master's port [{LOCUST_MASTER_PORT}]",
    )
    loadtest.set_defaults(handler=run)
    return loadtest


def add_load_arguments(parser: argparse.ArgumentParser, users: int, duration: str, report: str) -> None:
    parser.add_argument("--users", "-u", type=int, default=users, help=f"concurrent users [{users}]")
    parser.add_argument("--spawn-rate", "-r", type=float, default=10.0, help="users started per second [10]")
    parser.add_argument("--duration", "-t", default=duration, help=f"run time, e.g. 60s, 5m [{duration}]")
    parser.add_argument("--processes", type=int, default=1, help="Locust worker processes [1]")
    parser.add_argument("--report", type=Path, default=Path(report), help=f"report directory [{report}]")
    # The mixes' defaults live in loadtests/corpus alone; None here means "those", resolved when the test runs,
    # so building the parser never imports the load-test package.
    parser.add_argument("--sizes", default=None, help="text length mix, e.g. short=0.5,medium=0.35,long=0.15")
    parser.add_argument("--languages", default=None, help="language mix, e.g. en=0.5,zh=0.5")
    parser.add_argument("--stream-ratio", type=float, default=0.5, help="share of streamed requests [0.5]")
    parser.add_argument("--seed", type=int, default=0, help="seed of the text picks [0]")
    parser.add_argument(
        "--api-key",
        default=env_default("API_KEY"),
        help="API key every request sends as Authorization: Bearer, for a server that checks keys "
        f"{env_help('API_KEY')}; prefer the environment: a command line is visible to every user of the machine",
    )


def options(
    args: argparse.Namespace,
    host: str,
    scenario: str,
    expect_workers: int = 0,
    master_bind_port: int = LOCUST_MASTER_PORT,
):
    from voxdeploy.loadtests.corpus import DEFAULT_LANGUAGE_MIX, DEFAULT_SIZE_MIX
    from voxdeploy.loadtests.runner import LoadTestOptions, parse_duration

    return LoadTestOptions(
        host=host,
        users=args.users,
        spawn_rate=args.spawn_rate,
        duration_seconds=parse_duration(args.duration),
        processes=args.processes,
        scenario=scenario,
        sizes=DEFAULT_SIZE_MIX if args.sizes is None else args.sizes,
        languages=DEFAULT_LANGUAGE_MIX if args.languages is None else args.languages,
        stream_ratio=args.stream_ratio,
        seed=args.seed,
        api_key=args.api_key,
        expect_workers=expect_workers,
        master_bind_port=master_bind_port,
    )


def print_gate(result, report: Path) -> int:
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


def run(args: argparse.Namespace) -> int:
    from voxdeploy.loadtests import summary
    from voxdeploy.loadtests.runner import LoadTestError, benchmark
    from voxdeploy.loadtests.runner import run as run_load_test

    if args.worker:
        return _worker(args)
    if not args.host:
        print("error: loadtest: --host is required (unless --worker)", file=sys.stderr)
        return EXIT_USAGE
    stack = load_stack_from(args)
    writable_directory(args.report, "--report")
    try:
        if args.scenario == "benchmark":
            if args.expect_workers:
                raise LoadTestError(
                    "--scenario benchmark runs its levels here, one after another: not with --expect-workers"
                )
            levels = _levels(args.levels)
            rows = benchmark(options(args, args.host, "steady"), levels, stack.config.slo, args.report)
            _print_benchmark(rows)
            return EXIT_OK
        result = run_load_test(
            options(args, args.host, args.scenario, args.expect_workers, args.master_bind_port),
            stack.config.slo,
            args.report,
            stack.name,
        )
    except LoadTestError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    verdict = print_gate(result, args.report)
    if args.log_summary:
        print(summary.dumps(result, indent=None), flush=True)
    return verdict


def _worker(args: argparse.Namespace) -> int:
    """Becomes the Locust worker process (exec: in a pod it is then the process the kubelet signals)."""
    from voxdeploy.loadtests.runner import worker_command

    if not args.master_host:
        print("error: loadtest --worker needs --master-host, the master's address", file=sys.stderr)
        return EXIT_USAGE
    if not 0 < args.master_port < 65536:
        print(f"error: --master-port must be a TCP port (1-65535), got {args.master_port}", file=sys.stderr)
        return EXIT_USAGE
    if args.api_key:
        os.environ[API_KEY_ENV] = args.api_key
    command = worker_command(args.master_host, args.master_port)
    sys.stdout.flush()
    os.execv(command[0], command)


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
