"""Audio bytes in and out of the runtime, kept pure so the server, engines and tests share one codec.

Engines speak float32 mono numpy; what clients are sent is encoded in encoding.py. Reference audio for voice cloning
arrives from untrusted clients, so decoding must turn every malformed input into one error type the
server can answer with 400 instead of a 500 from deep inside a parser.
"""

from __future__ import annotations

import functools
import io
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

STREAMING_SIZE = 0xFFFFFFFF
"""RIFF size of a WAV whose length was unknown when its header was sent (a stream's; FFmpeg and vLLM-Omni write it)."""

MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1_000, 384_000
"""Rates outside this range are corrupt headers, not speech; refusing them early gives a clear error."""

_PCM_BITS = (8, 16, 24, 32)
_FLOAT_DTYPES: dict[int, np.dtype[np.floating[Any]]] = {32: np.dtype("<f4"), 64: np.dtype("<f8")}
_PCM, _IEEE_FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE
_SUPPORTED_WAV = "PCM 8/16/24/32-bit integer or 32/64-bit float"
_EMPTY = np.zeros(0, dtype=np.float32)
_EMPTY.flags.writeable = False


class AudioDecodeError(ValueError):
    """Client-supplied audio that cannot be used; the message tells the client what to send instead."""


def decode_pcm16(data: bytes) -> np.ndarray:
    """float32 samples of raw 16-bit LE PCM; an odd trailing byte (a sample cut by the network) is ignored."""
    return split_pcm16(data)[0]


def split_pcm16(buffer: bytes) -> tuple[np.ndarray, bytes]:
    """Whole samples plus the leftover byte, which the caller prepends to the next network read."""
    whole = len(buffer) - len(buffer) % 2
    samples = np.frombuffer(buffer, dtype="<i2", count=whole // 2).astype(np.float32) / 32768.0
    return samples, buffer[whole:]


def decode_audio(data: bytes) -> tuple[np.ndarray, int]:
    """float32 mono samples and sample rate of a WAV, FLAC or OGG file (reference audio for cloning)."""
    if not data:
        raise AudioDecodeError("audio is empty; send a WAV, FLAC or OGG file")
    if data[:4] in (b"fLaC", b"OggS"):
        return _decode_with_soundfile(data)
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioDecodeError("audio is not a WAV (RIFF/WAVE), FLAC or OGG file")
    fmt, payload = _wav_chunks(data)
    tag, channels, rate, bits = _wav_format(fmt)
    frame = channels * bits // 8
    raw = payload[: len(payload) - len(payload) % frame]  # a streamed file may end mid-frame
    samples = _samples(raw, tag, bits).reshape(-1, channels).mean(axis=1, dtype=np.float32)
    if not np.isfinite(samples).all():
        raise AudioDecodeError("WAV contains NaN or infinite samples; send finite audio")
    return samples, rate


def _wav_chunks(data: bytes) -> tuple[bytes, bytes]:
    """The fmt and data chunk bodies; other chunks (LIST, fact, ...) are skipped, as players do."""
    fmt: bytes | None = None
    pos = 12
    while pos + 8 <= len(data):
        chunk_id, size = struct.unpack_from("<4sI", data, pos)
        body = pos + 8
        if chunk_id == b"data":
            if fmt is None:
                raise AudioDecodeError("WAV has no fmt chunk before its data chunk")
            if size == STREAMING_SIZE:  # streamed: the data runs to the end
                return fmt, data[body:]
            if body + size > len(data):
                present = len(data) - body
                raise AudioDecodeError(f"WAV is truncated: data chunk declares {size} bytes but {present} follow")
            return fmt, data[body : body + size]
        if chunk_id == b"fmt ":
            fmt = data[body : body + size]
        pos = body + size + size % 2  # chunks are padded to even sizes
    raise AudioDecodeError("WAV has no data chunk (truncated or not audio)")


def _wav_format(fmt: bytes) -> tuple[int, int, int, int]:
    """(format tag, channels, sample rate, bits per sample), validated so decoding cannot fail later."""
    if len(fmt) < 16:
        raise AudioDecodeError(f"WAV fmt chunk is {len(fmt)} bytes; at least 16 are required")
    tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == _EXTENSIBLE:
        if len(fmt) < 26:
            raise AudioDecodeError("WAVE_FORMAT_EXTENSIBLE fmt chunk is too short to name its sub-format")
        (tag,) = struct.unpack_from("<H", fmt, 24)  # first two bytes of the SubFormat GUID
    if channels < 1:
        raise AudioDecodeError("WAV declares 0 channels; send mono or multichannel audio")
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise AudioDecodeError(f"WAV sample rate {rate} Hz is outside {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz")
    if not ((tag == _PCM and bits in _PCM_BITS) or (tag == _IEEE_FLOAT and bits in _FLOAT_DTYPES)):
        raise AudioDecodeError(f"WAV encoding (format tag {tag}, {bits}-bit) is not supported; use {_SUPPORTED_WAV}")
    return tag, channels, rate, bits


def _samples(raw: bytes, tag: int, bits: int) -> np.ndarray:
    """Interleaved float32 samples in [-1, 1] of whole frames."""
    if tag == _IEEE_FLOAT:
        return np.frombuffer(raw, dtype=_FLOAT_DTYPES[bits]).astype(np.float32)
    if bits == 8:  # the one unsigned PCM width
        return (np.frombuffer(raw, dtype="u1").astype(np.float32) - 128.0) / 128.0
    if bits == 24:  # no numpy dtype: place each 3 bytes in the top of an int32, keeping the sign
        padded = np.zeros((len(raw) // 3, 4), dtype="u1")
        padded[:, 1:] = np.frombuffer(raw, dtype="u1").reshape(-1, 3)
        return padded.view("<i4").reshape(-1).astype(np.float32) / 2.0**31
    return np.frombuffer(raw, dtype=f"<i{bits // 8}").astype(np.float32) / 2.0 ** (bits - 1)


def _decode_with_soundfile(data: bytes) -> tuple[np.ndarray, int]:
    import soundfile  # lazily: WAV, the common case, needs no libsndfile

    kind = "FLAC" if data[:4] == b"fLaC" else "OGG"
    try:
        samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as exc:  # libsndfile reports damage through several exception types
        reason = getattr(exc, "error_string", exc)  # LibsndfileError's text without the BytesIO repr
        raise AudioDecodeError(f"{kind} audio could not be decoded ({reason}); send an intact file") from None
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise AudioDecodeError(f"{kind} sample rate {rate} Hz is outside {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz")
    return samples.mean(axis=1, dtype=np.float32), int(rate)


@functools.cache
def _fade_windows(fade_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """(fade-out, fade-in) equal-power windows; cached, since every request of a runtime uses the same length."""
    t = (np.arange(fade_samples, dtype=np.float64) + 0.5) * (np.pi / 2 / max(fade_samples, 1))
    fade_out, fade_in = np.cos(t).astype(np.float32), np.sin(t).astype(np.float32)
    fade_out.flags.writeable = fade_in.flags.writeable = False
    return fade_out, fade_in


class Crossfader:
    """Joins audio synthesized segment by segment without a click at each join, while streaming.

    Each sentence is synthesized separately, so consecutive segments meet at unrelated phases. Only
    the last `fade_samples` of the current segment are held back (so latency stays one fade long);
    when the next segment has produced `fade_samples` of its own, the two overlap with an
    equal-power (cos/sin) fade, which keeps loudness steady across uncorrelated audio. A join where
    either side is shorter than the fade is a plain concatenation. Empty chunks change nothing: a
    segment begins with its first non-empty chunk, so an engine yielding nothing adds no join.
    """

    def __init__(self, fade_samples: int) -> None:
        if fade_samples < 0:
            raise ValueError(f"fade_samples must be 0 or more, got {fade_samples}")
        self._fade = fade_samples
        self._fade_out, self._fade_in = _fade_windows(fade_samples)
        self._tail = _EMPTY  # held-back end of the current segment, or the new segment's head so far
        self._outgoing: np.ndarray | None = None  # previous segment's tail, waiting for a full head
        self._new_segment_due = False

    def push(self, chunk: np.ndarray, new_segment: bool) -> np.ndarray:
        """Samples that are final now; `new_segment` marks the first chunk of the next segment."""
        samples = np.asarray(chunk, dtype=np.float32)
        if samples.ndim != 1:
            raise ValueError(f"chunks must be 1-D mono arrays, got shape {samples.shape}")
        self._new_segment_due |= new_segment
        if not samples.size:
            return _EMPTY
        ready = self._start_segment() if self._new_segment_due else _EMPTY
        self._new_segment_due = False
        if self._outgoing is None:
            return np.concatenate([ready, self._hold_back(samples)])
        self._tail = np.concatenate([self._tail, samples])
        if len(self._tail) < self._fade:
            return ready
        head, rest = self._tail[: self._fade], self._tail[self._fade :]
        mixed = self._outgoing * self._fade_out + head * self._fade_in
        self._outgoing, self._tail = None, _EMPTY
        return np.concatenate([ready, self._hold_back(np.concatenate([mixed, rest]))])

    def flush(self) -> np.ndarray:
        """Everything still held back; the crossfader is then ready for a new stream."""
        self._new_segment_due = False
        return self._release()

    def _hold_back(self, samples: np.ndarray) -> np.ndarray:
        """Append to the current segment and return all but its last `fade_samples`."""
        joined = np.concatenate([self._tail, samples])
        cut = max(len(joined) - self._fade, 0)
        self._tail = joined[cut:]
        return joined[:cut]

    def _start_segment(self) -> np.ndarray:
        """Keep a full tail to fade out into the new segment; release one too short to fade."""
        if self._fade and len(self._tail) == self._fade:
            self._outgoing, self._tail = self._tail, _EMPTY
            return _EMPTY
        return self._release()

    def _release(self) -> np.ndarray:
        """Everything held back, unfaded: the stream's end, or a join whose new segment was too short."""
        held = [self._tail] if self._outgoing is None else [self._outgoing, self._tail]
        self._outgoing, self._tail = None, _EMPTY
        return np.concatenate(held)


def crossfade_join(segments: Sequence[np.ndarray], fade_samples: int) -> np.ndarray:
    """The whole-file form of Crossfader, for non-streaming responses and as the streaming reference."""
    fader = Crossfader(fade_samples)
    parts = [fader.push(segment, new_segment=True) for segment in segments]
    return np.concatenate([*parts, fader.flush()])
