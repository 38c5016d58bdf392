"""`voxdeploy batch run`: synthesize a file of requests into one audio file each, resumably.

Exit codes: 0 every request has its file; 1 some failed or some input lines were bad (a re-run retries only the
failures); 2 the flags are wrong, or the input is with --strict (nothing is sent); 130 interrupted (what was done
stays done).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from voxdeploy.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, env_default, env_help, writable_directory

SHARD_INDEX_ENV = "JOB_COMPLETION_INDEX"
"""What Kubernetes sets in each pod of an Indexed Job: that pod's shard."""


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    batch = sub.add_parser("batch", help="batch synthesis: a file of requests in, one audio file each out")
    commands = batch.add_subparsers(dest="batch_command", metavar="COMMAND", required=True)
    run = commands.add_parser(
        "run",
        help="send every request not done yet and write its audio, results.jsonl and summary.json",
        description="Reads OpenAI's batch input (JSON lines: custom_id, method POST, url /v1/audio/speech, body), "
        "plain text (one input a line) or CSV (a text column). A re-run skips what is done and retries failures.",
    )
    run.add_argument("--input", "-i", type=Path, required=True, help="requests file (.jsonl, .csv or text)")
    run.add_argument(
        "--output", "-o", dest="output_dir", type=Path, required=True, help="directory of audio/, results, summary"
    )
    run.add_argument("--host", required=True, help="base URL of the speech API, e.g. http://127.0.0.1:8000")
    run.add_argument(
        "--api-key",
        default=env_default("API_KEY"),
        help=f"API key sent as Authorization: Bearer {env_help('API_KEY')}; prefer the environment",
    )
    run.add_argument("--concurrency", "-c", type=int, default=4, help="requests in flight (adaptive: the start) [4]")
    run.add_argument(
        "--adaptive",
        action="store_true",
        help="find the concurrency where throughput stops rising (AIMD: +1 while faster, halve on 429/503 or "
        "latency far above the best seen), up to --max-concurrency",
    )
    run.add_argument("--max-concurrency", type=int, default=64, help="adaptive mode's ceiling [64]")
    run.add_argument("--max-retries", type=int, default=5, help="retries of a 5xx or a dropped connection [5]")
    run.add_argument("--timeout", type=float, default=300.0, help="seconds one request may take [300]")
    run.add_argument("--strict", action="store_true", help="send nothing if any input line is bad")
    run.add_argument(
        "--shards",
        type=int,
        default=1,
        help="split the input into this many shards and run one (every N-th request) [1]",
    )
    run.add_argument(
        "--shard-index",
        type=int,
        default=None,
        help=f"the shard to run, from 0 [${SHARD_INDEX_ENV}, which an Indexed Job sets, else 0]",
    )
    progress = run.add_mutually_exclusive_group()
    progress.add_argument("--progress", dest="progress", action="store_true", default=None, help="always a bar")
    progress.add_argument("--no-progress", dest="progress", action="store_false", help="never a bar")
    run.set_defaults(handler=run_batch)
    return batch


def _shard_index(args: argparse.Namespace) -> int:
    if args.shard_index is not None:
        return int(args.shard_index)
    return int(os.environ.get(SHARD_INDEX_ENV) or 0)


def _usage(args: argparse.Namespace, index: int) -> str | None:
    if args.concurrency < 1 or args.max_concurrency < 1:
        return "--concurrency and --max-concurrency must be at least 1"
    if args.shards < 1:
        return f"--shards {args.shards} must be at least 1"
    if not 0 <= index < args.shards:
        return f"shard index {index} must be from 0 to {args.shards - 1} (--shard-index or ${SHARD_INDEX_ENV})"
    if not args.input.is_file():
        return f"--input {args.input}: no such file"
    if args.max_retries < 0 or args.timeout <= 0:
        return "--max-retries must be 0 or more and --timeout above 0"
    return None


def run_batch(args: argparse.Namespace) -> int:
    try:
        index = _shard_index(args)
    except ValueError:
        print(f"error: ${SHARD_INDEX_ENV}={os.environ.get(SHARD_INDEX_ENV)!r} is not a shard number", file=sys.stderr)
        return EXIT_USAGE
    problem = _usage(args, index)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    writable_directory(args.output_dir, "--output")

    import logging

    from voxdeploy.loadtests.batch.runner import BatchInputError, BatchOptions, run

    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request, 200,000 of them: the bar says it
    from voxdeploy.loadtests.batch.summary import lines

    options = BatchOptions(
        input=args.input,
        output=args.output_dir,
        host=args.host.rstrip("/"),
        api_key=args.api_key,
        concurrency=args.concurrency,
        adaptive=args.adaptive,
        max_concurrency=max(args.max_concurrency, args.concurrency),
        max_retries=args.max_retries,
        timeout_seconds=args.timeout,
        strict=args.strict,
        shard_index=index,
        shards=args.shards,
        progress=args.progress,
    )
    try:
        result = run(options)
    except BatchInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    print("\n".join(lines(result.summary)))
    print(f"results: {args.output_dir}/{'results' if args.shards == 1 else f'results-{index}'}.jsonl")
    return EXIT_OK if result.summary.failed == 0 and not result.problems else EXIT_FAILED
