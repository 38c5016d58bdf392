"""`voxdeploy demo`: the whole product on one machine: serve the simulator, render the dev stack, load-test it."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path

from voxdeploy.cli.common import EXIT_USAGE, free_port, load_stack_from, writable_directory
from voxdeploy.cli.loadtest import add_load_arguments, options, print_gate


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    demo = sub.add_parser(
        "demo", help="serve the simulator, render the dev stack, load-test it, report (no GPU needed)"
    )
    add_load_arguments(demo, users=4, duration="15s", report="out/demo")
    demo.set_defaults(handler=run, stack="dev", stacks_dir=None)
    return demo


PR_SET_PDEATHSIG = 1
"""prctl(2) option: the signal the kernel sends a process when its parent dies."""


def _die_with_parent() -> None:
    """In the child, before exec: a demo killed outright (SIGKILL, OOM) cannot stop its runtime itself, and
    the runtime is in a session of its own, so ask Linux to send it SIGTERM; elsewhere it is a no-op."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


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
    process = subprocess.Popen(
        command, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent
    )
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


def run(args: argparse.Namespace) -> int:
    from voxdeploy.infra.builders import build_objects
    from voxdeploy.infra.render import render_files, write_directory
    from voxdeploy.loadtests.runner import LoadTestError
    from voxdeploy.loadtests.runner import run as run_load_test

    stack = load_stack_from(args)
    out: Path = writable_directory(args.report, "--report")
    out.mkdir(parents=True, exist_ok=True)
    rendered = write_directory(render_files(build_objects(stack.config), stack.name), out / "rendered")
    print(f"rendered the dev stack: {len(rendered.written)} files in {out / 'rendered'}/")
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
        result = run_load_test(
            options(args, f"http://127.0.0.1:{port}", "steady"), stack.config.slo, out / "loadtest", stack.name
        )
    except LoadTestError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        # SIGINT: the load is over and no proxy routes here, so no drain delay is owed (SIGTERM would wait it out).
        runtime.send_signal(signal.SIGINT)
        runtime.wait(60)
    return print_gate(result, out / "loadtest")
