"""A speech answer as server-sent events: OpenAI's `stream_format: "sse"`, and vLLM-Omni's `stream: true`.

The shapes are OpenAI's (openai-openapi's SpeechAudioDeltaEvent and SpeechAudioDoneEvent), with the field
vLLM-Omni adds to each delta (`response_format`) and its error event for a failure once the stream has begun:
`speech.audio.delta` {audio: base64 of the next bytes of the response_format}, then `speech.audio.done`
{usage}, or `speech.audio.error` {error} instead of done.

`usage` counts what this runtime can count without the model's tokenizer: input_tokens are the input's
characters, output_tokens VoxCPM2's decoding steps (160 ms of audio each), so both grow as OpenAI's do.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

from voxdeploy.contracts.model import VOXCPM2_STEP_SECONDS
from voxdeploy.runtime.engines.base import EngineError
from voxdeploy.runtime.synthesis import Timing

SSE_MEDIA_TYPE = "text/event-stream"
EVENT_TYPES = ("speech.audio.delta", "speech.audio.done", "speech.audio.error")


def _event(data: Mapping[str, object]) -> bytes:
    return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode()


class SpeechEvents:
    """The events of one answer in `response_format`."""

    def __init__(self, response_format: str) -> None:
        self.response_format = response_format

    def delta(self, data: bytes) -> bytes:
        audio = base64.b64encode(data).decode("ascii")
        return _event({"type": EVENT_TYPES[0], "audio": audio, "response_format": self.response_format})

    def done(self, text: str, timing: Timing, engine_rate: int) -> bytes:
        steps = round(timing.audio_seconds(engine_rate) / VOXCPM2_STEP_SECONDS)
        usage = {"input_tokens": len(text), "output_tokens": steps, "total_tokens": len(text) + steps}
        return _event({"type": EVENT_TYPES[1], "usage": usage})

    def error(self, err: EngineError) -> bytes:
        error = {"message": err.message, "type": err.error_type, "param": err.param, "code": err.status}
        return _event({"type": EVENT_TYPES[2], "error": error})
