"""Seconds of audio in a speech response, without decoding it: RTF needs the duration, nothing else.

Kept apart from runtime/ (the boundaries say loadtests never import it): this reads only the WAV
header, or counts 16-bit PCM samples, as any client of the API would.
"""

from __future__ import annotations

import struct

STREAMING_SIZE = 0xFFFFFFFF
"""The data size a streamed WAV header carries (the length is unknown when it is sent)."""


def pcm16_seconds(byte_count: int, sample_rate: int) -> float:
    return byte_count / 2 / sample_rate


def wav_seconds(data: bytes) -> float:
    """Duration of a PCM WAV; a streamed header's placeholder size means 'to the end of the body'."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a WAV file (no RIFF/WAVE header)")
    offset, rate, block = 12, None, None
    while offset + 8 <= len(data):
        chunk_id, size = data[offset : offset + 4], struct.unpack_from("<I", data, offset + 4)[0]
        body = offset + 8
        if chunk_id == b"fmt ":
            channels, rate = struct.unpack_from("<HI", data, body + 2)
            block = struct.unpack_from("<H", data, body + 12)[0] or channels * 2
        elif chunk_id == b"data":
            if rate is None or block is None:
                raise ValueError("WAV data chunk before its fmt chunk")
            available = len(data) - body
            frames = (available if size == STREAMING_SIZE else min(size, available)) // block
            return frames / rate
        offset = body + size + (size & 1)
    raise ValueError("WAV without a data chunk")


def response_seconds(body: bytes, response_format: str, sample_rate: int) -> float:
    """Audio seconds of a whole response body in the format that was asked for."""
    if response_format == "pcm":
        return pcm16_seconds(len(body), sample_rate)
    if response_format == "wav":
        return wav_seconds(body)
    raise ValueError(f"cannot measure {response_format!r} responses; ask for wav or pcm")
