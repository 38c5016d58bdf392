"""Run the runtime: pick the engine from config, serve with uvicorn, drain on SIGTERM."""

from __future__ import annotations

import contextlib
import logging
import signal
from collections.abc import Callable, Iterator
from types import FrameType
from typing import TypeVar

import uvicorn
from starlette.applications import Starlette

from voxdeploy.contracts.runtime import ProcessEngine, RuntimeConfig, RuntimeServer, SimEngine, VoxcpmEngine
from voxdeploy.runtime.engines.base import Engine
from voxdeploy.runtime.server import Runtime, runtime_app
from voxdeploy.runtime.service import Service

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
    """uvicorn drains on SIGTERM already; this also turns /ready false the moment the signal lands, and
    exits 0 after a clean drain (uvicorn re-raises the signal, which reads as a crash to supervisors)."""

    def __init__(self, config: uvicorn.Config, service: Service) -> None:
        super().__init__(config)
        self.service = service

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
        super().handle_exit(sig, frame)


def run_server(app: Starlette, service: Service, host: str, server: RuntimeServer) -> None:
    """Serve an app (runtime or router) until SIGTERM/SIGINT; in-flight requests get up to the request
    timeout to finish. The service behind the app drains the moment the signal lands."""
    level = server.log_level
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    DrainingServer(
        uvicorn.Config(
            app,
            host=host,
            port=server.port,
            log_level=level.lower(),
            access_log=False,
            timeout_graceful_shutdown=int(server.request_timeout_seconds) + 1,
            http="httptools",
            loop="uvloop",
            lifespan="on",
        ),
        service,
    ).run()


def serve(config: RuntimeConfig, sim_load_seconds: float = 0.0) -> None:
    runtime = Runtime(config, build_engine(config, sim_load_seconds))
    run_server(runtime_app(runtime), runtime, config.host, config.server)
