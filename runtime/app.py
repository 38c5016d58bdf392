"""Run the runtime: pick the engine from config, serve with uvicorn, drain on SIGTERM."""

from __future__ import annotations

import contextlib
import logging
import signal
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import TypeVar

import uvicorn
from starlette.applications import Starlette

from voxdeploy.contracts.runtime import (
    LogFormat,
    ProcessEngine,
    RuntimeConfig,
    RuntimeServer,
    SimEngine,
    VoxcpmEngine,
)
from voxdeploy.runtime.engines.base import Engine
from voxdeploy.runtime.logs import configure_logging
from voxdeploy.runtime.metrics_port import listening_sockets
from voxdeploy.runtime.protocol import GuardedHttpToolsProtocol
from voxdeploy.runtime.server import Runtime, runtime_app
from voxdeploy.runtime.service import Service

log = logging.getLogger("voxdeploy.app")

S = TypeVar("S", SimEngine, ProcessEngine, VoxcpmEngine)

EngineFactory = Callable[[RuntimeConfig, float], Engine]
"""Builds the engine for a config (and the simulator's load seconds); imports its module only when called."""


def _settings(config: RuntimeConfig, model: type[S]) -> S:
    settings = config.engine
    if not isinstance(settings, model):
        raise TypeError(f"engine kind {settings.kind!r} has {type(settings).__name__} settings, not {model.__name__}")
    return settings


def _sim(config: RuntimeConfig, sim_load_seconds: float) -> Engine:
    from voxdeploy.runtime.engines.sim import SimulatedEngine

    return SimulatedEngine(_settings(config, SimEngine), load_seconds=sim_load_seconds)


def _vllm_omni(config: RuntimeConfig, _: float) -> Engine:
    from voxdeploy.runtime.engines.vllm_omni import VllmOmniEngine

    return VllmOmniEngine(_settings(config, ProcessEngine), config.server.request_timeout_seconds)


def _llamacpp(config: RuntimeConfig, _: float) -> Engine:
    from voxdeploy.runtime.engines.llamacpp import LlamaCppEngine

    return LlamaCppEngine(_settings(config, ProcessEngine), config.server.request_timeout_seconds)


def _voxcpm(config: RuntimeConfig, _: float) -> Engine:
    from voxdeploy.runtime.engines.voxcpm_torch import VoxcpmInProcessEngine

    return VoxcpmInProcessEngine(_settings(config, VoxcpmEngine))


ENGINES: dict[str, EngineFactory] = {"sim": _sim, "vllm-omni": _vllm_omni, "llamacpp": _llamacpp, "voxcpm": _voxcpm}
"""Every engine kind of the config (contracts/runtime.py EngineSettings): a new engine is one entry."""


def build_engine(config: RuntimeConfig, sim_load_seconds: float = 0.0) -> Engine:
    """The engine a config names; heavy engines are imported only when chosen."""
    return ENGINES[config.engine.kind](config, sim_load_seconds)


class DrainingServer(uvicorn.Server):
    """Drains the way a pod behind a Service must. On SIGTERM /ready turns 503 at once while the listener stays
    open and requests are still served for `drain_delay` seconds, the time the endpoint removal takes to reach every
    proxy (refusing connections at SIGTERM fails the requests still routed here); then uvicorn stops accepting and
    finishes what is in flight. A second signal, or SIGINT (a person at a terminal), skips the delay. Exits 0 after
    a clean drain (uvicorn re-raises the signal, which reads as a crash to supervisors)."""

    def __init__(self, config: uvicorn.Config, service: Service, drain_delay: float) -> None:
        super().__init__(config)
        self.service = service
        self.drain_delay = drain_delay
        self._stop_at: float | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        handled = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.service.drain()
        if sig == signal.SIGTERM and self._stop_at is None and self.drain_delay > 0:
            self._stop_at = time.monotonic() + self.drain_delay
            log.info(
                "SIGTERM: /ready is 503; serving %g s more while endpoints are removed, then draining", self.drain_delay
            )
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self._stop_at is not None and time.monotonic() >= self._stop_at:
            self.should_exit = True
        return await super().on_tick(counter)


def run_server(
    app: Starlette, service: Service, host: str, server: RuntimeServer, log_format: LogFormat = "text"
) -> None:
    """Serve an app (runtime or router) until SIGTERM/SIGINT, with the connection limits of protocol.py; after the
    drain delay, in-flight requests get up to the request timeout to finish. The service behind the app drains
    (/ready 503) the moment the signal lands. Every line goes out in `log_format` (logs.py): uvicorn's log_config is
    left unset so its loggers reach that handler, and its access log is off (the app writes its own)."""
    level = server.log_level
    configure_logging(level, log_format)
    config = uvicorn.Config(
        app,
        host=host,
        port=server.port,
        log_config=None,
        log_level=level.lower(),
        access_log=False,
        timeout_graceful_shutdown=int(server.request_timeout_seconds) + 1,
        http=GuardedHttpToolsProtocol.bind(server, service),
        loop="uvloop",
        lifespan="on",
    )
    DrainingServer(config, service, server.drain_delay_seconds).run(sockets=listening_sockets(config, server))


def serve(config: RuntimeConfig, sim_load_seconds: float = 0.0, log_format: LogFormat = "text") -> None:
    runtime = Runtime(config, build_engine(config, sim_load_seconds))
    run_server(runtime_app(runtime), runtime, config.host, config.server, log_format)
