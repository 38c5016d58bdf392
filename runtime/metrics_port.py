"""/metrics on a port of its own (`server.metricsPort`), so a NetworkPolicy can admit Prometheus to it alone.

One process, one app, two listening sockets (uvicorn serves one app on every socket it is given): the request's
local port says which one it came in on. The metrics port answers /metrics and nothing else; the API port then
answers everything but /metrics. Without a metrics port nothing changes: /metrics is served beside the API.
"""

from __future__ import annotations

import copy
import socket

import uvicorn
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from voxdeploy.contracts.api import METRICS_PATH
from voxdeploy.contracts.runtime import RuntimeServer
from voxdeploy.runtime.http import ApiError


class MetricsOnItsPort:
    """ASGI middleware: /metrics only on `metrics_port`, and only /metrics there; anything else a JSON 404."""

    def __init__(self, app: ASGIApp, metrics_port: int) -> None:
        self.app = app
        self.metrics_port = metrics_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            local = scope.get("server")
            on_metrics_port = local is not None and local[1] == self.metrics_port
            if on_metrics_port != (scope["path"] == METRICS_PATH):
                where = f"port {self.metrics_port}" if on_metrics_port else "the API port"
                message = f"{scope['path'][:200]} is not served on {where}; /metrics has port {self.metrics_port}"
                await ApiError(404, message).response()(scope, receive, send)
                return
        await self.app(scope, receive, send)


def metrics_port_middleware(server: RuntimeServer) -> list[Middleware]:
    """The split, where the server has a metrics port."""
    return [] if server.metrics_port is None else [Middleware(MetricsOnItsPort, metrics_port=server.metrics_port)]


def listening_sockets(config: uvicorn.Config, server: RuntimeServer) -> list[socket.socket] | None:
    """The API's and the metrics' sockets, bound as uvicorn binds its own (and logged by it); None without a
    metrics port, for uvicorn to bind the one port itself."""
    if server.metrics_port is None:
        return None
    metrics = copy.copy(config)
    metrics.port = server.metrics_port
    return [config.bind_socket(), metrics.bind_socket()]
