"""Real runtime processes on 127.0.0.1 for tests: started with an explicit command line, stopped by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from voxdeploy.cli_common import free_port

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Served:
    """A running `voxdeploy serve` process."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
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
    port = port or free_port()
    handle = log.open("wb")
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
        except AssertionError:
            served.stop(signal.SIGKILL)
            raise AssertionError(served.output()) from None
        assert process.poll() is None, served.output()
    return served


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """Start runtimes for one test; every one is stopped afterwards, whatever happened."""
    started: list[Served] = []

    def launch(*args: str, **kwargs: object) -> Served:
        served = start_serve(list(args), tmp_path / f"serve-{len(started)}.log", **kwargs)  # type: ignore[arg-type]
        started.append(served)
        return served

    yield launch
    for served in started:
        served.stop(signal.SIGKILL, timeout=5)


@pytest.fixture(scope="module")
def sim_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One fast simulator runtime shared by the read-only tests of a module."""
    served = start_serve(
        ["--engine", "sim", "--sim-rtf", "0.05", "--sim-first-audio", "0.05"],
        tmp_path_factory.mktemp("sim") / "serve.log",
    )
    yield served
    served.stop()
