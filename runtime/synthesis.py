"""One request's audio: split long text, run each piece through the engine, join without clicks, time it."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass

import numpy as np

from voxdeploy.runtime.audio import Crossfader
from voxdeploy.runtime.engines.base import Engine, Synthesis
from voxdeploy.runtime.text import chunk_text


@dataclass
class Timing:
    """Clock readings of one request (time.perf_counter), filled in as the audio flows."""

    arrived: float
    started: float | None = None
    first_audio: float | None = None
    finished: float | None = None
    samples: int = 0

    def audio_seconds(self, sample_rate: int) -> float:
        return self.samples / sample_rate

    def real_time_factor(self, sample_rate: int) -> float | None:
        """Synthesis wall time (slot acquired to last sample) over audio duration."""
        if self.started is None or self.finished is None or self.samples == 0:
            return None
        return (self.finished - self.started) / self.audio_seconds(sample_rate)


def segments_of(text: str, split_chars: int) -> list[str]:
    """Short input goes to the engine whole; long input sentence by sentence (the reference article's way)."""
    return [text] if len(text) <= split_chars else chunk_text(text, split_chars)


async def synthesize(
    engine: Engine, synthesis: Synthesis, split_chars: int, fade_samples: int, timing: Timing
) -> AsyncGenerator[np.ndarray, None]:
    """Final float32 audio chunks of the whole input, in order, ready to encode and send."""
    timing.started = time.perf_counter()
    fader = Crossfader(fade_samples)

    def emit(samples: np.ndarray) -> np.ndarray:
        if samples.size and timing.first_audio is None:
            timing.first_audio = time.perf_counter()
        timing.samples += samples.size
        return samples

    for text in segments_of(synthesis.text, split_chars):
        new_segment = True
        async for chunk in engine.stream(dataclasses.replace(synthesis, text=text)):
            out = emit(fader.push(chunk, new_segment=new_segment))
            new_segment = False
            if out.size:
                yield out
    rest = emit(fader.flush())
    timing.finished = time.perf_counter()
    if rest.size:
        yield rest
