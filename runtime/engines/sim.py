"""A calibrated simulator of a batched TTS engine, for CI, demos and load-test rehearsal without a GPU.

It is not VoxCPM2 and says so (engine name `sim`). What it gets right is the shape a load test sees:
real audio whose duration follows the text, first audio after a configured latency, wall time of
`rtf x audio duration` while the batch has room, and every request slowing down in proportion once
more requests are active than the batch holds, as a saturated GPU does.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections.abc import AsyncIterator
from functools import cache

import numpy as np

from voxdeploy.contracts.runtime import SimEngine
from voxdeploy.runtime.engines.base import Engine, Synthesis

_HARMONICS = np.arange(1, 13)
_TABLE_SIZE = 4096
_FORMANTS = ((700.0, 130.0), (1220.0, 70.0), (2600.0, 160.0))
"""(centre Hz, bandwidth Hz) of an open vowel: the harmonics' amplitudes follow these peaks."""


def _is_cjk(char: str) -> bool:
    return "\u3400" <= char <= "\u9fff" or "\u3040" <= char <= "\u30ff" or "\uac00" <= char <= "\ud7af"


def speech_seconds(text: str, settings: SimEngine, speed: float = 1.0) -> float:
    """How long reading `text` aloud takes at the configured speaking rates."""
    cjk = sum(1 for c in text if _is_cjk(c))
    latin = sum(1 for c in text if c.isalnum() and not _is_cjk(c))
    pauses = sum(1 for c in text if c in ",.;:!?，。；：！？、")
    seconds = cjk / settings.cjk_chars_per_second + latin / settings.latin_chars_per_second + 0.15 * pauses
    return max(seconds, settings.chunk_seconds) / speed


def _pitch(voice: str, seed: int | None) -> float:
    """A stable fundamental per voice (and seed), between 95 and 225 Hz."""
    digest = hashlib.sha256(f"{voice}/{seed}".encode()).digest()
    return 95.0 + digest[0] / 255.0 * 130.0


@cache
def _period(f0: float) -> np.ndarray:
    """One pitch period of the vowel, sampled finely: chunks read it as a table, so audio costs
    almost no CPU and a load test measures the server, not the simulator's synthesis."""
    theta = 2 * np.pi * np.arange(_TABLE_SIZE) / _TABLE_SIZE
    freqs = _HARMONICS * f0
    gains = sum(1.0 / (1.0 + ((freqs - centre) / width) ** 2) for centre, width in _FORMANTS) / _HARMONICS
    wave = np.sin(np.outer(theta, _HARMONICS)) @ gains
    return (wave / np.abs(wave).max()).astype(np.float32)


def voiced_chunk(start: int, count: int, sample_rate: int, f0: float, syllables_per_second: float) -> np.ndarray:
    """Samples [start, start+count) of a vowel-like voice: formant-weighted harmonics, syllable envelope.

    Computed from the absolute sample index, so chunks join without phase jumps.
    """
    t = (start + np.arange(count, dtype=np.float64)) / sample_rate
    cycles = f0 * t + 0.1 * np.sin(2 * np.pi * 5.0 * t)  # slight vibrato
    wave = _period(f0)[((cycles % 1.0) * _TABLE_SIZE).astype(np.int64)]
    envelope = np.sin(np.pi * syllables_per_second * t) ** 2
    return (0.25 * wave * envelope).astype(np.float32)


class SimulatedEngine(Engine):
    """The `sim` engine."""

    name = "sim"
    serves_lora = True
    """Simulated: a LoRA voice sounds like any other named voice, its own pitch."""

    def __init__(self, settings: SimEngine, load_seconds: float = 0.0) -> None:
        self.settings = settings
        self.sample_rate = settings.sample_rate
        self._load_seconds = load_seconds
        self._ready = False
        self._active = 0
        self._loading: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._load_seconds <= 0:
            self._ready = True
            return

        async def load() -> None:
            await asyncio.sleep(self._load_seconds)
            self._ready = True

        self._loading = asyncio.create_task(load())

    async def stop(self) -> None:
        self._ready = False
        if self._loading is not None:
            self._loading.cancel()

    @property
    def ready(self) -> bool:
        return self._ready

    def slowdown(self) -> float:
        """How much slower every request runs now: 1 until the batch is full, then active / capacity."""
        return max(1.0, self._active / self.settings.batch_capacity)

    async def stream(self, synthesis: Synthesis) -> AsyncIterator[np.ndarray]:
        settings = self.settings
        speed = synthesis.speed
        seconds = speech_seconds(synthesis.text, settings, speed)
        total = round(seconds * self.sample_rate)
        chunk = round(settings.chunk_seconds * self.sample_rate)
        chunks = math.ceil(total / chunk)
        f0 = _pitch(synthesis.voice, synthesis.seed)
        syllables = 4.0 * speed
        # Chunk i is due once the engine has done work for it: the first after first_audio_seconds, the
        # rest spread evenly so the whole takes rtf x duration. Work done scales down when overloaded.
        budget = max(seconds * settings.rtf, settings.first_audio_seconds)
        due = [
            settings.first_audio_seconds + (budget - settings.first_audio_seconds) * i / max(chunks - 1, 1)
            for i in range(chunks)
        ]
        self._active += 1
        try:
            work, last = 0.0, time.perf_counter()
            for index in range(chunks):
                while work < due[index]:
                    await asyncio.sleep(min(due[index] - work, 0.05) * self.slowdown())
                    now = time.perf_counter()
                    work += (now - last) / self.slowdown()
                    last = now
                start = index * chunk
                yield voiced_chunk(start, min(chunk, total - start), self.sample_rate, f0, syllables)
        finally:
            self._active -= 1
