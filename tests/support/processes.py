"""Real processes on 127.0.0.1 for tests: started with an explicit command line, always stopped by PID."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.stacks import REPO
from voxdeploy.cli.common import free_port

__all__ = [
    "REPO",
    "Served",
    "descendants",
    "free_port",
    "is_ready",
    "run_to_end",
    "start_serve",
    "stop_process",
    "wait_until",
]


def descendants(pid: int) -> list[int]:
    """The live children of pid, their children and so on (Linux /proc), nearest first."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                # the command name (field 2) may hold spaces: the parent pid follows the last ')'
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(0), []):
            if child not in found:
                found.append(child)
                todo.append(child)
    return found


def _kill(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def stop_process(process: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM the process, wait up to `timeout` seconds, then SIGKILL it; reaped either way.

    Whatever it had started and left behind (children in sessions of their own included) is killed too.
    """
    below = descendants(process.pid) if process.poll() is None else []
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
    process.wait()
    _kill(below)


def run_to_end(command: list[str], timeout: float, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """subprocess.run(command, capture_output=True, text=True, timeout=timeout), except that on a timeout
    (or any interruption) the command's whole process tree is killed, not only the command itself."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)  # type: ignore[call-overload]
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except BaseException:
        _kill([*descendants(process.pid), process.pid])
        process.communicate()
        raise
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


@dataclass
class Served:
    """A running `voxdeploy serve` process (a session leader: stopping it signals its whole group)."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGINT, timeout: float = 20.0) -> int:
        """Signal the process group, SIGKILL it after `timeout`; then kill whatever the process had
        started in sessions of its own (an engine under the supervisor), which a SIGKILL leaves behind.
        SIGINT by default: the same graceful drain as SIGTERM without the drain delay a pod behind a Service
        needs (server.drainDelaySeconds), which a test's process has no use for."""
        if self.process.poll() is None:
            below = descendants(self.process.pid)
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            _kill(below)
        return self.process.returncode


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def is_ready(url: str) -> bool:
    try:
        return httpx.get(url + "/ready", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def start_serve(
    args: list[str], log: Path, port: int | None = None, wait_ready: bool = True, timeout: float = 30.0
) -> Served:
    """Start `voxdeploy serve`; the caller must stop it (in a finally or a fixture's teardown)."""
    port = port or free_port()
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "voxdeploy", "serve", "--port", str(port), *args],
            cwd=REPO,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    served = Served(process, port, log)
    if wait_ready:
        try:
            wait_until(lambda: is_ready(served.url) or process.poll() is not None, timeout, "the runtime to be ready")
            assert process.poll() is None, served.output()
        except BaseException:
            output = served.output()
            served.stop(signal.SIGKILL)
            raise AssertionError(output) from None
    return served
