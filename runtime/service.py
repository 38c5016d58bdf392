"""What runtime/app.py serves and shuts down: the speech runtime (server.Runtime) or the router (router.app.Router)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from starlette.applications import Starlette


class Service(Protocol):
    """The state behind one app: started with it, drained on SIGTERM, closed after in-flight requests ended."""

    def count_refused(self, status: int) -> None:
        """Count an answer the HTTP layer gave before the app saw the request (protocol.py: 431, 414, 408, 505, a
        full server's 503) in the service's requests counter, as the app counts its own: the error alerts see every
        5xx, wherever it was answered."""
        ...

    def drain(self) -> None:
        """Turn /ready false: the pod is leaving its Service. Requests still arriving during the drain delay
        (runtime/app.py DrainingServer) are served; after it no more are accepted and those in flight carry on."""
        ...

    async def start(self) -> None:
        """Runs before the first request: start loading the engine, or check the endpoints once."""
        ...

    async def close(self) -> None:
        """Release everything, after in-flight requests have drained."""
        ...


def lifespan(service: Service) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """A Starlette lifespan that starts the service with the app, then drains and closes it at shutdown."""

    @contextlib.asynccontextmanager
    async def run(_: Starlette) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            service.drain()
            await service.close()

    return run
