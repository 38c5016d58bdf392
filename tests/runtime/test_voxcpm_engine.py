"""The voxcpm engine through the real `voxcpm` package and its real loader, on a tiny random checkpoint.

No hub access exists here: a fixture writes a complete VoxCPM2 checkpoint directory with random
weights (tests/support/voxcpm_checkpoint.py), which loads exactly as a downloaded one would.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile

from tests.support.processes import wait_until
from tests.support.stacks import REPO

pytest.importorskip("torch")
pytest.importorskip("transformers")

SPEECH = "/v1/audio/speech"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Written in a child process so this worker never imports torch itself."""
    path = tmp_path_factory.mktemp("voxcpm") / "tiny"
    subprocess.run(
        [sys.executable, "-m", "tests.support.voxcpm_checkpoint", str(path), "--size", "tiny"],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert (path / "config.json").is_file() and (path / "model.safetensors").is_file()
    return path


@pytest.fixture(scope="module")
def voxcpm_server(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory):
    from tests.support.processes import start_serve

    served = start_serve(
        ["--engine", "voxcpm", "--checkpoint", str(checkpoint), "--device", "cpu"],
        tmp_path_factory.mktemp("voxcpm-serve") / "serve.log",
        timeout=180,
    )
    try:
        yield served
    finally:
        served.stop()


def synthesize(url: str, **fields: object) -> httpx.Response:
    return httpx.post(url + SPEECH, json={"input": "Hello from a tiny random VoxCPM2.", **fields}, timeout=120)


def test_real_loader_real_generate_real_wav(voxcpm_server) -> None:
    response = synthesize(
        voxcpm_server.url, cfg_value=1.5, inference_timesteps=4, seed=1, response_format="wav", stream=False,
        sample_rate=48000,
    )  # fmt: skip
    assert response.status_code == 200, response.text
    samples, rate = soundfile.read(io.BytesIO(response.content), dtype="float32")
    assert rate == 48000
    assert len(samples) >= 7680, "at least one 0.16 s patch"
    assert float(np.abs(samples).max()) > 0.01, "not silence"
    assert response.headers["x-voxdeploy-engine"] == "voxcpm"


def test_seed_reaches_the_model(voxcpm_server) -> None:
    first = synthesize(voxcpm_server.url, seed=11, inference_timesteps=4, response_format="pcm").content
    again = synthesize(voxcpm_server.url, seed=11, inference_timesteps=4, response_format="pcm").content
    other = synthesize(voxcpm_server.url, seed=12, inference_timesteps=4, response_format="pcm").content
    assert first == again
    assert first != other


def test_streams_patch_by_patch(voxcpm_server) -> None:
    with httpx.stream(
        "POST",
        voxcpm_server.url + SPEECH,
        timeout=120,
        json={
            "input": "Streaming from the tiny model.",
            "stream_format": "audio",
            "response_format": "pcm",
            "inference_timesteps": 4,
        },
    ) as response:
        assert response.status_code == 200
        chunks = [len(c) for c in response.iter_raw()]
    assert sum(chunks) >= 2 * 7680


def test_cloning_reference_is_accepted(voxcpm_server) -> None:
    import base64

    t = np.arange(32000) / 16000
    reference = io.BytesIO()
    soundfile.write(reference, (0.2 * np.sin(2 * np.pi * 180 * t)).astype(np.float32), 16000, format="WAV")
    encoded = base64.b64encode(reference.getvalue()).decode()
    response = synthesize(voxcpm_server.url, ref_audio=encoded, ref_text="A reference.", inference_timesteps=4)
    assert response.status_code == 200, response.text


def test_denoise_is_refused_not_ignored(voxcpm_server) -> None:
    response = synthesize(voxcpm_server.url, denoise=True)
    assert response.status_code == 400 and response.json()["error"]["param"] == "denoise"


def test_a_directory_that_is_no_checkpoint_keeps_the_runtime_unready(tmp_path: Path, serve) -> None:
    served = serve("--engine", "voxcpm", "--checkpoint", str(tmp_path), "--device", "cpu", wait_ready=False)
    wait_until(lambda: _get(served.url + "/health") == 200, 60, "/health")
    assert _get(served.url + "/ready") == 503
    refused = synthesize(served.url)
    assert refused.status_code == 503 and "no config.json" in refused.json()["error"]["message"]


def _get(url: str) -> int:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return 0
