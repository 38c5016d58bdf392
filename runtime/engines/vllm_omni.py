"""vLLM-Omni (`vllm serve openbmb/VoxCPM2 --omni`) behind the runtime.

Speaks vLLM-Omni 0.30's speech API: streamed raw 16-bit PCM (`stream_format: audio`,
`response_format: pcm`), reference audio as a data: URI, and VoxCPM's generation parameters in
`extra_params`. vLLM-Omni 0.30 fixes cfg_value at 2.0 and inference_timesteps at 10 in its VoxCPM2
talker; they are forwarded anyway so a later engine version that reads them gets them.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import httpx
import numpy as np

from voxdeploy.contracts.engine_metrics import VLLM_OMNI
from voxdeploy.contracts.voices import DEFAULT_VOICE
from voxdeploy.runtime.audio import split_pcm16
from voxdeploy.runtime.engines.base import Synthesis
from voxdeploy.runtime.engines.proxied import ProxiedEngine

VOXCPM_PARAMS = ("cfg_value", "inference_timesteps", "normalize", "denoise")


class VllmOmniEngine(ProxiedEngine):
    name = "vllm-omni"
    exposition = VLLM_OMNI

    def request_body(self, synthesis: Synthesis) -> dict[str, object]:
        # vLLM-Omni time-stretches only whole responses: streaming with speed != 1 is refused upstream.
        streaming = synthesis.speed == 1.0
        body: dict[str, object] = {
            "model": self.settings.model,
            "input": synthesis.text,
            # the runtime keeps the voice library and sends each voice's reference or description itself, so
            # vLLM-Omni is asked for its one built-in voice (any other name is its 400 "Invalid voice")
            "voice": DEFAULT_VOICE,
            "response_format": "pcm",
            "sample_rate": self.sample_rate,  # its own rate, said outright: the runtime resamples for the client
            "speed": synthesis.speed,
            "stream": streaming,
        }
        if streaming:
            body["stream_format"] = "audio"
        optional = {
            "seed": synthesis.seed,
            "language": synthesis.language,
            "instructions": synthesis.instructions,
            "task_type": synthesis.task_type,
            "max_new_tokens": synthesis.max_new_tokens,
        }
        body.update({key: value for key, value in optional.items() if value is not None})
        if synthesis.reference is not None:
            encoded = base64.b64encode(synthesis.reference.wav_bytes).decode("ascii")
            body["ref_audio"] = f"data:audio/wav;base64,{encoded}"
            if synthesis.reference.transcript:
                body["ref_text"] = synthesis.reference.transcript
        extra = dict(synthesis.extra_params)
        extra.update({name: getattr(synthesis, name) for name in VOXCPM_PARAMS if getattr(synthesis, name) is not None})
        if extra:
            body["extra_params"] = extra
        return body

    async def audio(self, response: httpx.Response) -> AsyncIterator[np.ndarray]:
        leftover = b""
        async for data in response.aiter_bytes():
            samples, leftover = split_pcm16(leftover + data)
            if samples.size:
                yield samples
