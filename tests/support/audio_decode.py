"""Reading an answer back with someone else's decoder, and how long it may legitimately come out.

The runtime encodes with FFmpeg (through PyAV) and libsoxr; a round trip through the same FFmpeg would only show
FFmpeg agrees with itself. So an answer is decoded by an independent decoder where one is installed: libsndfile
(soundfile) for WAV, FLAC, MP3 (its mpg123) and Ogg Opus (its libopus). Two cases have none and are read back by
PyAV, i.e. by FFmpeg's own decoders: AAC (libsndfile has no AAC decoder, and none other is installed), and a
streamed FLAC, whose STREAMINFO says "length unknown" (0 samples; the encoder cannot seek back to fill it in),
which libsndfile takes as a length and fails on ("array is too big").
"""

from __future__ import annotations

import io

import av
import numpy as np
import soundfile

MP3_DELAY = 576 + 529
"""Samples an MP3 decoder outputs before the first input sample when nothing says to drop them: LAME's encoder
delay (576) plus the decoder's (529), as LAME's own documentation of its gapless tag counts them."""


def mp3_frame(rate: int) -> int:
    """Samples in one MP3 frame: 1152 for MPEG-1 (32-48 kHz), 576 for MPEG-2/2.5 (below 32 kHz)."""
    return 1152 if rate >= 32_000 else 576


def extra_samples(fmt: str, rate: int, whole: bool) -> int:
    """Most samples a decoded answer may hold beyond its input's (it never holds fewer).

    0, to the sample, for what keeps every sample (wav, flac, pcm) or says how many there are: Ogg Opus (its pre-skip
    and the last page's granule position) and an MP3 written whole (its LAME frame's delay and padding).
    mp3 streamed: no LAME frame (it is written last, into a header a pipe cannot go back to), so the decoder keeps the
    delay and the padding to a whole frame: < 1105 + 1152 samples, 0.047 s at 48 kHz (< 1105 + 576, 0.070 s at 24).
    aac (ADTS, either way): the container has no field for the encoder's 1024 priming samples, and the last frame is
    padded to 1024: < 2048 samples, 0.043 s at 48 kHz, 0.085 s at 24 kHz.
    """
    if fmt == "aac":
        return 2048
    if fmt == "mp3" and not whole:
        return MP3_DELAY + mp3_frame(rate)
    return 0


def decode_with_pyav(data: bytes) -> tuple[np.ndarray, int]:
    """FFmpeg's decoder, for what no independent one reads (see the module's docstring)."""
    parts, rate = [], 0
    with av.open(io.BytesIO(data)) as container:
        for frame in container.decode(audio=0):
            parts.append(frame.to_ndarray().astype(np.float32).reshape(-1))  # mono: one plane
            rate = frame.sample_rate
    return (np.concatenate(parts) if parts else np.zeros(0, np.float32)), rate


def decode(fmt: str, data: bytes, rate: int, whole: bool) -> tuple[np.ndarray, int]:
    """(float32 samples, their rate) of an answer, by the decoder chosen in the module's docstring; raw pcm is
    read at `rate`, the one it was asked for."""
    if fmt == "pcm":
        assert len(data) % 2 == 0, "pcm is whole 16-bit samples"
        return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0, rate
    if fmt == "aac" or (fmt == "flac" and not whole):
        return decode_with_pyav(data)
    samples, decoded_rate = soundfile.read(io.BytesIO(data), dtype="float32")
    return samples.reshape(-1), decoded_rate
