"""Seconds of audio in a speech response: RTF needs the duration, nothing else. WAV and raw PCM are measured
without decoding; the compressed formats (which batches write) are decoded.

Kept apart from runtime/ (the boundaries say loadtests never import it): this reads files as any client of the
API would.
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
    return decoded_seconds(body)


def decoded_seconds(body: bytes) -> float:
    """Seconds of a compressed file (mp3, opus, aac, flac), by decoding all of it with FFmpeg (PyAV): the only way
    to be sure of the length of a stream without a trustworthy header, and a check that the file is whole."""
    import io

    import av

    samples, rate = 0, 0
    try:
        with av.open(io.BytesIO(body), mode="r") as container:
            for frame in container.decode(audio=0):
                samples += frame.samples
                rate = frame.sample_rate
    except (av.FFmpegError, IndexError) as err:
        raise ValueError(f"not a decodable audio file ({err})") from None
    if not rate:
        raise ValueError("an audio file without any audio")
    return samples / rate
