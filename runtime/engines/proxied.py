"""What vLLM-Omni and llama-tts-server adapters share: a supervised child on loopback, spoken to over HTTP.

Subclasses only say how a Synthesis becomes the child's request and how its response becomes audio;
lifecycle, readiness, restarts and the mapping of the child's failures to honest errors live here.
"""

from __future__ import annotations

import abc
import json
from collections.abc import AsyncIterator

import httpx
import numpy as np

from voxdeploy.contracts.engine_metrics import EngineExposition
from voxdeploy.contracts.model import VOXCPM2_SAMPLE_RATE
from voxdeploy.contracts.runtime import ProcessEngine
from voxdeploy.runtime.engines.base import (
    Engine,
    EngineFailed,
    EngineRejected,
    EngineUnavailable,
    Synthesis,
    UpstreamFailed,
)
from voxdeploy.runtime.engines.supervisor import Supervisor
from voxdeploy.runtime.logs import request_id_headers

RETRY_AFTER_SECONDS = 5.0
CHILD_GONE = (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError)
"""What httpx raises when the child refused the connection or dropped it mid-request (crash, abort)."""


def upstream_message(body: bytes) -> tuple[str, str | None]:
    """(message, param) from an OpenAI-style error body; engines that send none get a plain summary."""
    try:
        error = json.loads(body).get("error", {})
        return str(error.get("message") or "no message"), error.get("param")
    except (ValueError, AttributeError):
        text = body.decode("utf-8", "replace").strip()
        return (text[:300] or "empty response body"), None


class ProxiedEngine(Engine, abc.ABC):
    """An engine process the runtime starts, watches and forwards requests to."""

    health_path = "/health"
    speech_path = "/v1/audio/speech"
    exposition: EngineExposition | None = None
    """The child's own Prometheus metrics, which the runtime serves with its own; None if it has none."""

    def __init__(self, settings: ProcessEngine, request_timeout: float) -> None:
        self.settings = settings
        self.model_id = settings.model
        self.sample_rate = VOXCPM2_SAMPLE_RATE
        self.base_url = f"http://127.0.0.1:{settings.port}"
        self.supervisor = Supervisor(
            settings.command,
            self.base_url + self.health_path,
            settings.startup_timeout_seconds,
            settings.max_restart_backoff_seconds,
            settings.hang_timeout_seconds,
        )
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(request_timeout, connect=5.0),
            limits=httpx.Limits(max_connections=None),
        )

    @property
    def restarts(self) -> int:  # type: ignore[override]
        return self.supervisor.restarts

    @property
    def ready(self) -> bool:
        return self.supervisor.ready

    async def start(self) -> None:
        await self.supervisor.start()

    async def stop(self) -> None:
        await self.supervisor.stop()
        await self._client.aclose()

    @abc.abstractmethod
    def request_body(self, synthesis: Synthesis) -> dict[str, object]:
        """The child's JSON request for one synthesis."""

    @abc.abstractmethod
    def audio(self, response: httpx.Response) -> AsyncIterator[np.ndarray]:
        """Float32 chunks from a 200 response of the child."""

    def rejected(self, status: int, message: str, param: str | None) -> Exception:
        """The error for a non-200 answer; 4xx means the request was bad, the rest that the engine broke."""
        if 400 <= status < 500:
            return EngineRejected(f"{self.name} refused the request: {message}", param)
        return UpstreamFailed(f"{self.name} failed ({status}): {message}")

    def _not_ready(self) -> EngineUnavailable:
        return EngineUnavailable(f"{self.name} is not ready (loading or restarting)", RETRY_AFTER_SECONDS)

    def _died(self, err: Exception) -> EngineUnavailable:
        """The child went away under us: stop routing to it until the supervisor has it back."""
        self.supervisor.mark_dead()
        return EngineUnavailable(
            f"{self.name} died during the request ({type(err).__name__}); restarting", RETRY_AFTER_SECONDS
        )

    async def stream(self, synthesis: Synthesis) -> AsyncIterator[np.ndarray]:
        if not self.ready:
            raise self._not_ready()
        body = self.request_body(synthesis)
        try:
            async with self._client.stream(
                "POST", self.speech_path, json=body, headers=request_id_headers()
            ) as response:
                if response.status_code != 200:
                    message, param = upstream_message(await response.aread())
                    raise self.rejected(response.status_code, message, param)
                async for chunk in self.audio(response):
                    yield chunk
        except CHILD_GONE as err:
            raise self._died(err) from err
        except httpx.TimeoutException as err:
            raise EngineFailed(f"{self.name} did not answer in time ({type(err).__name__})") from err

    async def post(self, body: dict[str, object]) -> bytes:
        """One request answered whole: the child's 200 body, or the same errors `stream` raises.

        For children that cannot stream a response (llama-tts-server): the subclass decides how to
        cut the work into requests and when to send them.
        """
        if not self.ready:
            raise self._not_ready()
        try:
            response = await self._client.post(self.speech_path, json=body, headers=request_id_headers())
        except CHILD_GONE as err:
            raise self._died(err) from err
        except httpx.TimeoutException as err:
            raise EngineFailed(f"{self.name} did not answer in time ({type(err).__name__})") from err
        if response.status_code != 200:
            message, param = upstream_message(response.content)
            raise self.rejected(response.status_code, message, param)
        return response.content
