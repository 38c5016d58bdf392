"""The engine registry covers every engine kind a config can name, and the runtime lists the engine's model."""

from __future__ import annotations

import asyncio
import typing

import httpx

from voxdeploy.contracts.model import MODEL_ID
from voxdeploy.contracts.runtime import EngineSettings, ProcessEngine, RuntimeConfig
from voxdeploy.runtime.app import ENGINES, build_engine
from voxdeploy.runtime.engines.sim import SimulatedEngine
from voxdeploy.runtime.engines.vllm_omni import VllmOmniEngine
from voxdeploy.runtime.server import create_app


def _kinds() -> set[str]:
    union = typing.get_args(EngineSettings)[0]
    return {kind for model in typing.get_args(union) for kind in typing.get_args(model.model_fields["kind"].annotation)}


def test_every_engine_kind_has_one_factory() -> None:
    assert set(ENGINES) == _kinds() == {"sim", "vllm-omni", "llamacpp", "voxcpm"}


def test_build_engine_picks_by_kind() -> None:
    assert isinstance(build_engine(RuntimeConfig()), SimulatedEngine)
    process = ProcessEngine(kind="vllm-omni", command=["true"], port=18091, model="my/voxcpm")
    engine = build_engine(RuntimeConfig(engine=process))
    assert isinstance(engine, VllmOmniEngine)
    assert engine.model_id == "my/voxcpm"
    assert SimulatedEngine.model_id == MODEL_ID


def test_models_lists_the_engine_model_id() -> None:
    engine = build_engine(RuntimeConfig())
    engine.model_id = "custom/model"

    async def models() -> dict:
        transport = httpx.ASGITransport(create_app(RuntimeConfig(), engine))
        async with httpx.AsyncClient(transport=transport, base_url="http://runtime") as client:
            return (await client.get("/v1/models")).json()

    assert asyncio.run(models())["data"][0]["id"] == "custom/model"
