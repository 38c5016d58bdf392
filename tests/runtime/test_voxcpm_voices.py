"""Voices on the voxcpm engine, in-process on a tiny random VoxCPM2 checkpoint (CPU): LoRA adapters swapped per
request, and cloning through the voice library against cloning inline, through the real app.

The checkpoint and its adapters are written by tests/support/voxcpm_checkpoint.py with voxcpm's own modules, so
their tensor names and shapes are the ones the real `voxcpm` package (2.0.3) builds. Its stop head always stops,
so every generation is 4 patches long and outputs of one seed compare sample for sample.
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np
import pytest

from voxdeploy.contracts.runtime import RuntimeConfig, VoxcpmEngine, VoxcpmLora
from voxdeploy.contracts.voices import VoiceSettings, VoiceSpec
from voxdeploy.runtime import encoding
from voxdeploy.runtime.engines.base import EngineRejected, Synthesis
from voxdeploy.runtime.engines.voxcpm_torch import VoxcpmInProcessEngine
from voxdeploy.runtime.server import create_app

pytest.importorskip("torch")
pytest.importorskip("transformers")

TEXT = "Hello from a tiny voice."
SEED = 7
STEPS = 4
RATE = 48000
T = TypeVar("T")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.support.voxcpm_checkpoint import write_random_checkpoint

    return write_random_checkpoint(tmp_path_factory.mktemp("voxcpm") / "tiny")


@pytest.fixture(scope="module")
def voices(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The voices directory: two adapters of the engine's shape, one of the LM only, and misfits."""
    from tests.support.voxcpm_checkpoint import write_lora_adapter

    directory = tmp_path_factory.mktemp("voices")
    write_lora_adapter(directory / "adapterA", checkpoint, seed=1)
    write_lora_adapter(directory / "adapterB", checkpoint, seed=2)
    write_lora_adapter(directory / "lm-only", checkpoint, seed=3, enable_dit=False)
    write_lora_adapter(directory / "rank4", checkpoint, seed=4, r=4)
    write_lora_adapter(directory / "rank4-unlabelled", checkpoint, seed=4, r=4, config_file=False)
    write_lora_adapter(directory / "alpha32", checkpoint, seed=5, alpha=32)
    write_lora_adapter(directory / "with-proj", checkpoint, seed=6, enable_proj=True)
    (directory / "empty").mkdir()
    return directory


async def _started(engine: VoxcpmInProcessEngine) -> None:
    await engine.start()
    others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    await asyncio.wait_for(asyncio.gather(*others), 120)  # the load, so that it ends in this loop
    assert engine.ready, engine.problem


@pytest.fixture(scope="module")
def engine(checkpoint: Path):
    engine = VoxcpmInProcessEngine(VoxcpmEngine(checkpoint=str(checkpoint), device="cpu", lora=VoxcpmLora()))
    asyncio.run(_started(engine))
    try:
        yield engine
    finally:
        asyncio.run(engine.stop())


def speak(engine: VoxcpmInProcessEngine, lora: Path | None = None) -> np.ndarray:
    async def collect() -> np.ndarray:
        synthesis = Synthesis(TEXT, seed=SEED, inference_timesteps=STEPS, lora=None if lora is None else str(lora))
        return np.concatenate([chunk async for chunk in engine.stream(synthesis)])

    return asyncio.run(collect())


def refused(engine: VoxcpmInProcessEngine, lora: Path) -> EngineRejected:
    with pytest.raises(EngineRejected) as caught:
        speak(engine, lora)
    return caught.value


@pytest.fixture(scope="module")
def base(engine: VoxcpmInProcessEngine) -> np.ndarray:
    return speak(engine)


def test_adapters_swap_per_request_and_exactly(engine, voices: Path, base: np.ndarray) -> None:
    with_a = speak(engine, voices / "adapterA")
    assert with_a.shape == base.shape and float(np.abs(base).max()) > 0.01
    assert not np.array_equal(with_a, base), "adapter A changes the voice"
    assert np.array_equal(speak(engine), base), "no adapter after one: the base model's output"
    assert np.array_equal(speak(engine, voices / "adapterA"), with_a), "A again, from the cache: the same audio"
    with_b = speak(engine, voices / "adapterB")
    assert not np.array_equal(with_b, with_a) and not np.array_equal(with_b, base)
    assert np.array_equal(speak(engine, voices / "adapterA"), with_a), "B's layers are all replaced by A's"


def test_an_adapter_on_fewer_parts_is_served(engine, voices: Path, base: np.ndarray) -> None:
    lm_only = speak(engine, voices / "lm-only")
    assert not np.array_equal(lm_only, base)
    speak(engine, voices / "adapterB")  # DiT layers full of B's weights; lm-only must zero them again
    assert np.array_equal(speak(engine, voices / "lm-only"), lm_only)


def test_an_adapter_replaced_on_disk_is_read_again(engine, voices: Path, checkpoint: Path, tmp_path: Path) -> None:
    from tests.support.voxcpm_checkpoint import write_lora_adapter

    adapter = write_lora_adapter(tmp_path / "retrained", checkpoint, seed=1)
    first = speak(engine, adapter)
    assert np.array_equal(first, speak(engine, voices / "adapterA")), "same seed, same adapter as adapterA"
    write_lora_adapter(adapter, checkpoint, seed=2)
    assert np.array_equal(speak(engine, adapter), speak(engine, voices / "adapterB"))


@pytest.mark.parametrize(
    ("adapter", "reason"),
    [
        ("missing", "does not exist"),
        ("empty", "has no lora_weights.safetensors or lora_weights.ckpt"),
        ("rank4", r"r=4 \(lora_config.json\)"),
        ("rank4-unlabelled", r"is (4x\d+|\d+x4) where this engine's is (8x\d+|\d+x8)"),
        ("alpha32", "alpha=32"),
        ("with-proj", "a layer this engine has no LoRA on"),
    ],
)
def test_an_adapter_that_does_not_fit_is_refused_naming_voice(
    engine, voices: Path, base: np.ndarray, adapter: str, reason: str
) -> None:
    error = refused(engine, voices / adapter)
    assert error.param == "voice" and re.search(reason, error.message), error.message
    assert "r=8, alpha=16" in error.message or adapter in ("missing", "empty"), "what the engine has"
    assert np.array_equal(speak(engine), base), "a refusal changes nothing"


def test_an_engine_without_lora_settings_serves_no_lora(checkpoint: Path) -> None:
    assert VoxcpmInProcessEngine(VoxcpmEngine(checkpoint=str(checkpoint))).serves_lora is False
    assert VoxcpmInProcessEngine(VoxcpmEngine(checkpoint=str(checkpoint), lora=VoxcpmLora(r=4))).serves_lora


def test_lora_settings_need_a_part() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="enableLm, enableDit or enableProj"):
        VoxcpmLora(enable_lm=False, enable_dit=False)
    assert VoxcpmEngine.model_validate({"checkpoint": "/m", "lora": {"enableProj": True, "r": 16}}).lora == (
        VoxcpmLora(enable_proj=True, r=16)
    )


# through the real app


async def _served(
    settings: VoxcpmEngine, voices: VoiceSettings, requests: Callable[[httpx.AsyncClient, Any], Awaitable[T]]
) -> T:
    engine = VoxcpmInProcessEngine(settings)
    app = create_app(RuntimeConfig(engine=settings, voices=voices), engine)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://runtime", timeout=120) as client:
            for _ in range(1200):
                if (await client.get("/ready")).status_code == 200:
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError(f"the engine never became ready: {(await client.get('/ready')).text}")
            return await requests(client, engine)


def served(settings: VoxcpmEngine, voices: VoiceSettings, requests: Callable[[httpx.AsyncClient, Any], Awaitable[T]]):
    return asyncio.run(_served(settings, voices, requests))


async def _pcm(client: httpx.AsyncClient, **fields: object) -> bytes:
    body = {"input": TEXT, "seed": SEED, "inference_timesteps": STEPS, "response_format": "pcm", "stream": False}
    response = await client.post("/v1/audio/speech", json={**body, "sample_rate": RATE, **fields})
    assert response.status_code == 200, response.text
    return response.content


def test_cloning_through_the_library_is_the_same_audio_as_cloning_inline(checkpoint: Path, tmp_path: Path) -> None:
    t = np.arange(24000) / 16000
    sample = encoding.encode((0.2 * np.sin(2 * np.pi * 180 * t)).astype(np.float32), 16000, "wav")
    transcript = "A reference of a tone."

    async def requests(client: httpx.AsyncClient, _: Any) -> tuple[bytes, bytes, bytes]:
        made = await client.post(
            "/v1/audio/voices",
            data={"name": "tone", "ref_text": transcript},
            files={"audio_sample": ("tone.wav", sample, "audio/wav")},
        )
        assert made.status_code == 200, made.text
        stored = await _pcm(client, voice="tone")
        inline = await _pcm(client, voice="default", ref_audio=base64.b64encode(sample).decode(), ref_text=transcript)
        return stored, inline, await _pcm(client)

    settings = VoxcpmEngine(checkpoint=str(checkpoint), device="cpu")
    stored, inline, plain = served(settings, VoiceSettings(store=f"sqlite:///{tmp_path}/v.db"), requests)
    assert stored == inline
    assert stored != plain and len(stored) > 2 * 7680, "the reference conditions the model"


def test_a_lora_voice_of_the_settings_is_the_engines_adapter_output(
    checkpoint: Path, voices: Path, engine: VoxcpmInProcessEngine
) -> None:
    library = VoiceSettings(directory=str(voices), voices=[VoiceSpec(name="narrator", lora="adapterA")])

    async def requests(client: httpx.AsyncClient, _: Any) -> tuple[bytes, bytes]:
        return await _pcm(client, voice="narrator"), await _pcm(client)

    settings = VoxcpmEngine(checkpoint=str(checkpoint), device="cpu", lora=VoxcpmLora())
    narrator, plain = served(settings, library, requests)
    assert narrator == encoding.encode(speak(engine, voices / "adapterA"), RATE, "pcm", RATE)
    assert plain == encoding.encode(speak(engine), RATE, "pcm", RATE)


def test_a_lora_voice_on_an_engine_without_lora_is_a_400_naming_voice(checkpoint: Path, voices: Path) -> None:
    library = VoiceSettings(directory=str(voices), voices=[VoiceSpec(name="narrator", lora="adapterA")])

    async def requests(client: httpx.AsyncClient, engine: VoxcpmInProcessEngine) -> tuple[httpx.Response, Exception]:
        response = await client.post("/v1/audio/speech", json={"input": TEXT, "voice": "narrator"})
        synthesis = Synthesis(TEXT, voice="narrator", lora=str(voices / "adapterA"))
        try:  # the engine refuses too, should a LoRA voice get past the server
            [chunk async for chunk in engine.stream(synthesis)]
        except EngineRejected as err:
            return response, err
        raise AssertionError("the engine took a LoRA voice without LoRA layers")

    settings = VoxcpmEngine(checkpoint=str(checkpoint), device="cpu")
    response, error = served(settings, library, requests)
    assert response.status_code == 400 and response.json()["error"]["param"] == "voice", response.text
    assert "'narrator'" in response.json()["error"]["message"]
    assert isinstance(error, EngineRejected) and error.param == "voice" and "'narrator'" in error.message
