"""Audio out: every OpenAI response format, resampled and encoded as it is generated.

Engines make float32 mono at their own rate (VoxCPM2: 48 kHz); OpenAI clients expect 24 kHz unless told
otherwise, and a streamed answer must leave as soon as its first audio exists. So one Encoder per response
takes chunks as they come, resamples them with libsoxr (python-soxr's streaming resampler, which keeps its
filter state across chunks, so joins are seamless) and encodes them with FFmpeg through PyAV (libmp3lame,
libopus in Ogg, the native AAC encoder in ADTS, FLAC, WAV): nothing is encoded by hand but raw `pcm`, which is
the samples themselves as 16-bit integers.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import get_args

import numpy as np

from voxdeploy.contracts.runtime import OutputRate

SAMPLE_RATES: tuple[int, ...] = get_args(OutputRate)
"""Output rates a request may ask for (`sample_rate`); each format narrows them to what its codec takes."""
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
"""The rates libopus encodes."""


@dataclass(frozen=True)
class OutputFormat:
    """One `response_format`: the media type it is served as and the FFmpeg muxer and codec that make it."""

    name: str
    content_type: str
    muxer: str | None
    """FFmpeg container format; None: raw 16-bit little-endian PCM, no container."""
    codec: str | None
    rates: tuple[int, ...] = SAMPLE_RATES
    options: Mapping[str, str] = field(default_factory=dict)
    """Muxer options; Ogg's default page of 1 s would hold a streamed opus answer back a second."""


FORMATS: dict[str, OutputFormat] = {
    fmt.name: fmt
    for fmt in (
        OutputFormat("mp3", "audio/mpeg", "mp3", "libmp3lame"),
        OutputFormat("opus", "audio/ogg", "ogg", "libopus", OPUS_RATES, {"page_duration": "20000"}),
        OutputFormat("aac", "audio/aac", "adts", "aac"),
        OutputFormat("flac", "audio/flac", "flac", "flac"),
        OutputFormat("wav", "audio/wav", "wav", "pcm_s16le"),
        OutputFormat("pcm", "audio/pcm", None, None),
    )
}
"""OpenAI's six formats, in its documentation's order."""


class UnsupportedRate(ValueError):
    """A sample rate the format's codec cannot encode; the message lists the ones it can."""


def check_rate(fmt: str, rate: int) -> None:
    """Refuse before any audio is made a rate the answer could not be encoded at."""
    allowed = FORMATS[fmt].rates
    if rate not in allowed:
        raise UnsupportedRate(f"{fmt} cannot be encoded at {rate} Hz; use one of {', '.join(map(str, allowed))}")


def to_pcm16(samples: np.ndarray) -> np.ndarray:
    """16-bit samples of float32 audio: engines may overshoot [-1, 1] and must not wrap around; NaN is silence."""
    clipped = np.clip(np.nan_to_num(np.asarray(samples, dtype=np.float32), nan=0.0), -1.0, 1.0)
    return np.round(clipped * 32767.0).astype("<i2")


class _Sink:
    """The file PyAV writes into: collects what the muxer has written since it was last taken.

    It has no `seek`, so FFmpeg treats it as a pipe and never goes back to patch a header: what is taken may be
    sent at once. WAV's sizes then read 0xFFFFFFFF (unknown), as vLLM-Omni's streamed WAV does."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


class _WholeFile(io.BytesIO):
    """The file of an answer sent in one piece: seekable, so FFmpeg writes the real length into the header
    (WAV's sizes, FLAC's sample count, the MP3 Xing frame); nothing is taken before it is complete."""

    def take(self) -> bytes:
        return b""


class _Muxer:
    """FFmpeg's side of one answer: the container written into the sink and its one audio stream."""

    def __init__(self, fmt: OutputFormat, rate: int, sink: _Sink | _WholeFile) -> None:
        import av

        self.rate = rate
        self.container = av.open(sink, mode="w", format=fmt.muxer, options=dict(fmt.options))
        stream = self.container.add_stream(fmt.codec or "", rate=rate, layout="mono")
        if not isinstance(stream, av.AudioStream):
            raise TypeError(f"{fmt.codec} is not an audio codec")
        self.stream = stream

    def write(self, pcm: np.ndarray) -> None:
        import av

        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self.rate
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def flush(self) -> None:
        """The codec's delayed frames and the container's trailer."""
        for packet in self.stream.encode(None):
            self.container.mux(packet)
        self.container.close()


class Encoder:
    """One response's audio: push float32 chunks at the engine's rate, get the bytes that are ready to send.
    `whole`: a container's bytes come out only at `finish`, the complete file with its length in the header (raw
    pcm has no header, so its bytes come as they are pushed either way)."""

    def __init__(self, fmt: str, engine_rate: int, rate: int, *, whole: bool = False) -> None:
        check_rate(fmt, rate)
        self.format = FORMATS[fmt]
        self.rate = rate
        self._resampler = None
        if engine_rate != rate:
            import soxr

            self._resampler = soxr.ResampleStream(engine_rate, rate, 1, dtype="float32", quality="HQ")
        self._sink: _Sink | _WholeFile = _WholeFile() if whole else _Sink()
        self._muxer = None if self.format.muxer is None else _Muxer(self.format, rate, self._sink)

    def push(self, samples: np.ndarray) -> bytes:
        chunk = np.asarray(samples, dtype=np.float32)
        if self._resampler is not None:
            chunk = self._resampler.resample_chunk(chunk, last=False)
        return self._encode(chunk)

    def finish(self) -> bytes:
        """The rest: the resampler's tail, the codec's delayed frames and the container's trailer."""
        tail = b""
        if self._resampler is not None:
            tail = self._encode(self._resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
        if self._muxer is None:
            return tail
        self._muxer.flush()
        if isinstance(self._sink, _WholeFile):
            return self._sink.getvalue()
        return tail + self._sink.take()

    def close(self) -> None:
        """Release the codec of an answer that ended early (client gone, engine failed)."""
        if self._muxer is not None:
            self._muxer.container.close()

    def _encode(self, chunk: np.ndarray) -> bytes:
        pcm = to_pcm16(chunk)
        if self._muxer is None:
            return pcm.tobytes()
        if pcm.size:
            self._muxer.write(pcm)
        return self._sink.take()


def encode(samples: np.ndarray, engine_rate: int, fmt: str, rate: int | None = None) -> bytes:
    """A whole answer (or a reference kept as WAV) in one piece: the streaming encoder run over all of it."""
    encoder = Encoder(fmt, engine_rate, engine_rate if rate is None else rate, whole=True)
    return encoder.push(samples) + encoder.finish()
