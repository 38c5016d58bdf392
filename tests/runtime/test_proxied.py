"""The proxied engines' error mapping, against a scripted upstream (httpx MockTransport)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from voxdeploy.contracts.runtime import ProcessEngine
from voxdeploy.runtime.engines.base import EngineFailed, EngineRejected, EngineUnavailable, Synthesis, UpstreamFailed
from voxdeploy.runtime.engines.vllm_omni import VllmOmniEngine


def engine_answering(handler) -> VllmOmniEngine:
    engine = VllmOmniEngine(ProcessEngine(kind="vllm-omni", command=["vllm"], port=18000), request_timeout=1.0)
    engine._client = httpx.AsyncClient(base_url=engine.base_url, transport=httpx.MockTransport(handler))
    engine.supervisor.ready = True
    return engine


async def _drain(engine: VllmOmniEngine, synthesis: Synthesis | None = None) -> list:
    return [chunk async for chunk in engine.stream(synthesis or Synthesis("Hello."))]


def raises(handler, error: type[Exception]) -> Exception:
    with pytest.raises(error) as caught:
        asyncio.run(_drain(engine_answering(handler)))
    return caught.value


def test_upstream_timeout_is_an_engine_failure_not_a_crash() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    assert "did not answer in time" in str(raises(timeout, EngineFailed))


def test_upstream_4xx_is_the_clients_fault_and_5xx_the_engines() -> None:
    bad = raises(
        lambda r: httpx.Response(400, json={"error": {"message": "Invalid voice", "param": "voice"}}), EngineRejected
    )
    assert bad.param == "voice" and "Invalid voice" in str(bad)
    broken = raises(lambda r: httpx.Response(500, json={"error": {"message": "CUDA error"}}), UpstreamFailed)
    assert broken.status == 502 and "CUDA error" in str(broken)


def test_a_refused_connection_marks_the_engine_dead() -> None:
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    engine = engine_answering(refused)
    with pytest.raises(EngineUnavailable):
        asyncio.run(_drain(engine))
    assert engine.ready is False


def test_the_request_speaks_vllm_omnis_dialect() -> None:
    seen: list[dict] = []

    def record(request: httpx.Request) -> httpx.Response:
        import json

        seen.append(json.loads(request.content))
        return httpx.Response(200, content=b"\x00\x01" * 480)

    engine = engine_answering(record)
    synthesis = Synthesis("Hello.", seed=3, cfg_value=2.5, max_new_tokens=64, language="en")
    chunks = asyncio.run(_drain(engine, synthesis))
    assert sum(len(c) for c in chunks) == 480
    body = seen[0]
    assert (body["stream"], body["stream_format"], body["response_format"]) == (True, "audio", "pcm")
    assert (body["seed"], body["max_new_tokens"], body["language"]) == (3, 64, "en")
    assert body["extra_params"] == {"cfg_value": 2.5}
