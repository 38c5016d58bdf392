"""Keep one engine child process alive: start it, wait until it answers, restart it with backoff.

vLLM-Omni and llama-tts-server both refuse connections while they load and can die mid-request
(CUDA errors, ggml aborts), or hang while their process lives on (a deadlock, a wedged GPU call, a stopped
process). The runtime stays up through that: it reports not-ready, answers 503 with Retry-After, and brings
the child back, so Kubernetes sees a pod that heals instead of a crash loop or a pod NotReady forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Sequence

import httpx

log = logging.getLogger("voxdeploy.supervisor")
engine_log = logging.getLogger("voxdeploy.engine")
"""The child's own output, a line a record. Every line passes whatever the runtime's level: the child's own log level
(rendered into its command from the same setting) already chose them."""
engine_log.setLevel(logging.DEBUG)
OUTPUT_LINE_LIMIT = 1 << 20
"""Longest line of the child's output relayed; a longer one is dropped (and says so)."""
RELAY_FLUSH_SECONDS = 1.0
"""How long a stop waits for the child's last output to be relayed."""

STOP_GRACE_SECONDS = 20.0
HEALTH_POLL_SECONDS = 0.25
"""How often a loading child is asked whether it answers yet."""
WATCH_PERIOD_SECONDS = 1.0
"""How often a ready child's health is checked."""
HEALTH_TIMEOUT_SECONDS = 5.0
"""Longest wait for one health answer of a ready child (a stopped child accepts the connection into the
listen backlog and never answers: the read times out)."""


class Supervisor:
    """Runs `command` and watches `health_url`; `ready` is true only while the child answers 200.

    A child is restarted when it exits, when it does not answer within `startup_timeout` seconds of its
    start, and when, once ready, it has not answered 200 for `hang_timeout` seconds (see `_watch`).
    """

    def __init__(
        self,
        command: Sequence[str],
        health_url: str,
        startup_timeout: float,
        max_backoff: float,
        hang_timeout: float,
        env: dict[str, str] | None = None,
    ) -> None:
        self.command = list(command)
        self.health_url = health_url
        self.startup_timeout = startup_timeout
        self.max_backoff = max_backoff
        self.hang_timeout = hang_timeout
        self.env = env
        self.restarts = 0
        self.ready = False
        self.process: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._ready_event = asyncio.Event()
        self._relays: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="engine-supervisor")

    async def wait_ready(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready_event.wait(), timeout)
        return self.ready

    def mark_dead(self) -> None:
        """Called when a request saw the child die: stop routing to it before the poll notices."""
        self._set_ready(False)

    def _set_ready(self, value: bool) -> None:
        self.ready = value
        if value:
            self._ready_event.set()
        else:
            self._ready_event.clear()

    async def _run(self) -> None:
        backoff = 1.0
        while not self._stopping:
            started = time.monotonic()
            await self._spawn()
            became_ready = await self._wait_until_healthy()
            if became_ready:
                backoff = 1.0
                await self._watch()
            elif self.process is not None and self.process.returncode is None:
                log.error("engine not healthy after %.0f s; restarting it", self.startup_timeout)
                await self._terminate()
            self._set_ready(False)
            if self._stopping:
                break
            self.restarts += 1
            code = self.process.returncode if self.process else None
            delay = min(backoff, self.max_backoff)
            log.warning(
                "engine exited (code %s) after %.1f s; restart %d in %.1f s",
                code,
                time.monotonic() - started,
                self.restarts,
                delay,
            )
            await asyncio.sleep(delay)
            backoff *= 2

    async def _spawn(self) -> None:
        log.info("starting engine: %s", " ".join(self.command))
        env = {**os.environ, **(self.env or {})}
        self.process = await asyncio.create_subprocess_exec(
            *self.command,
            env=env,
            start_new_session=True,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            limit=OUTPUT_LINE_LIMIT,
        )
        assert self.process.stdout is not None
        relay = asyncio.create_task(self._relay(self.process.stdout, self.process.pid))
        self._relays.add(relay)
        relay.add_done_callback(self._relays.discard)

    async def _relay(self, output: asyncio.StreamReader, pid: int) -> None:
        """The child's stdout and stderr into the runtime's log, a line a record, so that a pod's log is one format
        (JSON lines for the collector) and each line says which engine process wrote it. Ends when every holder of
        the pipe (the child and whatever it started) is gone."""
        fields = {"pid": pid}
        while True:
            try:
                line = await output.readline()
            except ValueError:
                engine_log.warning("(a line over %d bytes, dropped)", OUTPUT_LINE_LIMIT, extra={"fields": fields})
                continue
            if not line:
                return
            engine_log.info("%s", line.decode("utf-8", "replace").rstrip("\r\n"), extra={"fields": fields})

    async def _healthy(self, client: httpx.AsyncClient) -> bool:
        try:
            return (await client.get(self.health_url)).status_code == 200
        except httpx.HTTPError:
            return False

    async def _wait_until_healthy(self) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline and self.process.returncode is None and not self._stopping:
                if await self._healthy(client):
                    self._set_ready(True)
                    log.info("engine ready (pid %d)", self.process.pid)
                    return True
                await asyncio.sleep(HEALTH_POLL_SECONDS)
        return False

    async def _watch(self) -> None:
        """While the child lives, follow its health: one that stops answering is not ready, and one that has
        not answered 200 for `hang_timeout` seconds is hung and killed, which `_run` then restarts.

        The supervisor restarts a hung child rather than failing the pod's liveness (/health stays "the
        runtime answers"): it is the one that knows whether the child is loading, restarting or hung, a
        restart of the child alone keeps the runtime, its metrics and the pod, and the runtime's own event
        loop, if wedged, already fails liveness by not answering /health at all.

        The kill is SIGKILL to the process group at once: a hung child drains nothing, and a stopped one would
        leave SIGTERM pending. A hang is seen within hang_timeout + WATCH_PERIOD_SECONDS + one health timeout.
        """
        assert self.process is not None
        wait = asyncio.create_task(self.process.wait())
        answered = time.monotonic()
        async with httpx.AsyncClient(timeout=min(HEALTH_TIMEOUT_SECONDS, self.hang_timeout)) as client:
            while not wait.done():
                done, _ = await asyncio.wait({wait}, timeout=WATCH_PERIOD_SECONDS)
                if done or self._stopping:
                    continue
                healthy = await self._healthy(client)
                if self._stopping:
                    continue  # stop() took over while we asked: leave readiness and the child to it
                if healthy != self.ready:
                    self._log_change(healthy)
                self._set_ready(healthy)
                if healthy:
                    answered = time.monotonic()
                elif time.monotonic() - answered >= self.hang_timeout:
                    log.error(
                        "engine hung: no answer from %s for %.0f s; killing pid %d and its process group",
                        self.health_url,
                        time.monotonic() - answered,
                        self.process.pid,
                    )
                    self._signal_group(signal.SIGKILL)
                    await wait

    def _log_change(self, healthy: bool) -> None:
        """A ready child's health is polled every second at DEBUG (httpx's line); only a change is worth a line."""
        assert self.process is not None
        if healthy:
            log.info("engine answers %s again; ready (pid %d)", self.health_url, self.process.pid)
        else:
            log.warning(
                "engine gave no 200 on %s; not ready until it does, killed as hung after %.0f s (pid %d)",
                self.health_url,
                self.hang_timeout,
                self.process.pid,
            )

    def _signal_group(self, sig: signal.Signals) -> None:
        """Signal the child's process group (it is a session leader: its own children go with it)."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)

    async def _terminate(self) -> None:
        """SIGTERM the child's process group (it drains), SIGKILL it if it will not go.

        SIGCONT follows SIGTERM: a stopped child acts on SIGTERM only once continued; a running one ignores it.
        """
        process = self.process
        if process is None or process.returncode is not None:
            return
        self._signal_group(signal.SIGTERM)
        self._signal_group(signal.SIGCONT)
        try:
            await asyncio.wait_for(process.wait(), STOP_GRACE_SECONDS)
        except TimeoutError:
            self._signal_group(signal.SIGKILL)
            await process.wait()

    async def stop(self) -> None:
        self._stopping = True
        self._set_ready(False)
        await self._terminate()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._relays:  # the child's last lines, unless something it started still holds the pipe
            await asyncio.wait(set(self._relays), timeout=RELAY_FLUSH_SECONDS)
        for relay in set(self._relays):
            relay.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await relay
