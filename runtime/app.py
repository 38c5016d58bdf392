"""Run the runtime: pick the engine from config, serve with uvicorn, drain on SIGTERM."""

from __future__ import annotations

import contextlib
import logging
import signal
from collections.abc import Iterator

import uvicorn
from starlette.applications import Starlette

from voxdeploy.contracts.runtime import ProcessEngine, RuntimeConfig, RuntimeServer, SimEngine
from voxdeploy.runtime.engines.base import Engine
from voxdeploy.runtime.server import create_app


def build_engine(config: RuntimeConfig, sim_load_seconds: float = 0.0) -> Engine:
    """The engine a config names; heavy engines are imported only when chosen."""
    settings = config.engine
    timeout = config.server.request_timeout_seconds
    if isinstance(settings, SimEngine):
        from voxdeploy.runtime.engines.sim import SimulatedEngine

        return SimulatedEngine(settings, load_seconds=sim_load_seconds)
    if isinstance(settings, ProcessEngine) and settings.kind == "vllm-omni":
        from voxdeploy.runtime.engines.vllm_omni import VllmOmniEngine

        return VllmOmniEngine(settings, timeout)
    if isinstance(settings, ProcessEngine) and settings.kind == "llamacpp":
        from voxdeploy.runtime.engines.llamacpp import LlamaCppEngine

        return LlamaCppEngine(settings, timeout)
    from voxdeploy.runtime.engines.voxcpm import VoxcpmInProcessEngine

    return VoxcpmInProcessEngine(settings)


class DrainingServer(uvicorn.Server):
    """uvicorn drains on SIGTERM already; this also turns /ready false the moment the signal lands, and
    exits 0 after a clean drain (uvicorn re-raises the signal, which reads as a crash to supervisors)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        handled = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: object) -> None:  # type: ignore[override]
        self.config.app.state.runtime.draining = True
        super().handle_exit(sig, frame)  # type: ignore[arg-type]


def run_server(app: Starlette, host: str, server: RuntimeServer) -> None:
    """Serve an app (runtime or router) until SIGTERM/SIGINT; in-flight requests get up to the request
    timeout to finish. The app's `state.runtime.draining` turns true when the signal lands."""
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
        )
    ).run()


def serve(config: RuntimeConfig, sim_load_seconds: float = 0.0) -> None:
    run_server(create_app(config, build_engine(config, sim_load_seconds)), config.host, config.server)
