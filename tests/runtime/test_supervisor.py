"""The supervisor against a hung engine: a real child on 127.0.0.1, stopped with SIGSTOP.

A stopped process is the plainest hang: its listening socket still completes connections (the kernel
queues them in the backlog) but nothing ever answers, exactly what a deadlocked or wedged engine looks
like from outside. The child is the llama-tts-server stand-in; every test continues it in `finally`, so
that nothing stays stopped (and unkillable by SIGTERM) after a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support import llama_tts_server
from tests.support.processes import Served, free_port, is_ready, wait_until
from voxdeploy.contracts.metrics import ENGINE_RESTARTS
from voxdeploy.runtime.engines.supervisor import STOP_GRACE_SECONDS, Supervisor

STAND_IN = [sys.executable, str(Path(llama_tts_server.__file__)), "--voxcpm2-base-lm", "a", "--voxcpm2-acoustic", "b"]


def engine_pid(engine_url: str) -> int:
    return int(httpx.get(engine_url + "/debug/last", timeout=5).json()["pid"])


def restarts(url: str) -> float:
    families = text_string_to_metric_families(httpx.get(url + "/metrics", timeout=5).text)
    return next(family for family in families if family.name == ENGINE_RESTARTS.name).samples[0].value


def status(url: str) -> int:
    try:
        return httpx.get(url, timeout=1).status_code
    except httpx.HTTPError:
        return 0


@contextlib.contextmanager
def stopped(pid: int) -> Iterator[None]:
    """SIGSTOP pid; SIGCONT it on the way out whatever happened (a no-op once it is dead)."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


def serve_stand_in(serve: Callable[..., Served], hang_seconds: float) -> tuple[Served, str]:
    """A runtime over the stand-in with the given hang window; returns it and the stand-in's URL."""
    port = free_port()
    served = serve(
        "--engine",
        "llamacpp",
        "--engine-port",
        str(port),
        "--engine-hang-timeout-seconds",
        str(hang_seconds),
        "--engine-command",
        *STAND_IN,
        "--port",
        str(port),
    )
    return served, f"http://127.0.0.1:{port}"


def test_a_hung_engine_is_killed_and_restarted(serve: Callable[..., Served]) -> None:
    served, engine_url = serve_stand_in(serve, hang_seconds=2)
    hung = engine_pid(engine_url)
    with stopped(hung):
        wait_until(lambda: status(served.url + "/ready") == 503, 10, "/ready to go 503")
        wait_until(lambda: is_ready(served.url), 20, f"a new engine to be ready:\n{served.output()[-3000:]}")
        assert not Path(f"/proc/{hung}").exists(), "the hung child was not killed (or not reaped)"
    assert engine_pid(engine_url) != hung
    assert restarts(served.url) == 1
    assert f"engine hung: no answer from {engine_url}/health for " in served.output()
    speech = httpx.post(served.url + "/v1/audio/speech", json={"input": "Back again."}, timeout=20)
    assert speech.status_code == 200, speech.text


def test_a_pause_shorter_than_the_hang_window_is_waited_out(serve: Callable[..., Served]) -> None:
    """A child that answers late (here: paused for 1 s), but within the window, is the same child after."""
    served, engine_url = serve_stand_in(serve, hang_seconds=4)
    pid = engine_pid(engine_url)
    with stopped(pid):
        time.sleep(1)
    time.sleep(5)  # longer than the window: a restart, had one been decided, would have happened
    assert is_ready(served.url)
    assert engine_pid(engine_url) == pid
    assert restarts(served.url) == 0


def test_stopping_the_supervisor_drains_a_stopped_child_instead_of_killing_it() -> None:
    """SIGTERM stays pending on a stopped process; the supervisor continues it so that it drains and exits 0."""
    port = free_port()
    supervisor = Supervisor([*STAND_IN, "--port", str(port)], f"http://127.0.0.1:{port}/health", 20, 1, hang_timeout=60)

    async def scenario() -> tuple[int | None, float]:
        await supervisor.start()
        try:
            assert await supervisor.wait_ready(20)
            assert supervisor.process is not None
            with stopped(supervisor.process.pid):
                started = time.monotonic()
                await supervisor.stop()
            return supervisor.process.returncode, time.monotonic() - started
        finally:
            await supervisor.stop()

    code, seconds = asyncio.run(scenario())
    assert code == 0 and seconds < STOP_GRACE_SECONDS / 2, (code, seconds)
