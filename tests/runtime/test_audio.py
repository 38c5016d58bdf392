"""Codec round trips, hostile reference audio, and click-free joins of separately synthesized sentences."""

from __future__ import annotations

import io
import itertools
import struct

import numpy as np
import pytest
import soundfile
from hypothesis import given, settings
from hypothesis import strategies as st

from voxdeploy.runtime.audio import (
    STREAMING_SIZE,
    AudioDecodeError,
    Crossfader,
    crossfade_join,
    decode_audio,
    decode_pcm16,
    split_pcm16,
)
from voxdeploy.runtime.encoding import Encoder, encode, to_pcm16

RATE = 48_000


def pcm16(samples: np.ndarray) -> bytes:
    return to_pcm16(samples).tobytes()


def sine(n: int, freq: float = 220.0, phase: float = 0.0, rate: int = RATE) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * freq * np.arange(n) / rate + phase)).astype(np.float32)


def soundfile_wav(samples: np.ndarray, subtype: str, rate: int = RATE, container: str = "WAV") -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format=container, subtype=subtype)
    return buffer.getvalue()


def riff(*chunks: tuple[bytes, bytes]) -> bytes:
    body = b"".join(cid + struct.pack("<I", len(data)) + data + b"\0" * (len(data) % 2) for cid, data in chunks)
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body


def fmt_chunk(tag: int = 1, channels: int = 1, rate: int = RATE, bits: int = 16) -> tuple[bytes, bytes]:
    align = channels * bits // 8
    return b"fmt ", struct.pack("<HHIIHH", tag, channels, rate, rate * align % 2**32, align, bits)


# --- what the decoder is handed ----------------------------------------------------------------


def test_streamed_wav_decodes_to_the_end() -> None:
    """FFmpeg's WAV on a pipe has open sizes, as vLLM-Omni's streamed WAV does; a stream may stop mid-sample."""
    samples = sine(1001)
    encoder = Encoder("wav", RATE, RATE)
    data = encoder.push(samples) + encoder.finish()
    assert data[4:8] == struct.pack("<I", STREAMING_SIZE)
    decoded, rate = decode_audio(data + b"\x01")
    assert rate == RATE
    np.testing.assert_allclose(decoded, samples, atol=1e-4)


def test_split_pcm16_keeps_the_odd_byte_for_the_next_read() -> None:
    data = pcm16(np.array([0.25, -0.5], dtype=np.float32))
    samples, leftover = split_pcm16(data[:3])
    assert leftover == data[2:3] and len(samples) == 1
    rest, leftover = split_pcm16(leftover + data[3:])
    assert leftover == b"" and np.concatenate([samples, rest]).tolist() == pytest.approx([0.25, -0.5], abs=1e-4)
    assert len(decode_pcm16(data[:3])) == 1


# --- decoding -----------------------------------------------------------------------------------


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
def test_soundfile_wavs_decode(subtype: str) -> None:
    samples = sine(2400)
    decoded, rate = decode_audio(soundfile_wav(samples, subtype, rate=16_000))
    assert rate == 16_000 and decoded.dtype == np.float32
    np.testing.assert_allclose(decoded, samples, atol=1e-2 if subtype == "PCM_U8" else 1e-4)


def test_24bit_negative_values_keep_their_sign() -> None:
    samples = np.array([-1.0, -0.5, -1 / 2**23, 0.0, 0.5], dtype=np.float32)
    decoded, _ = decode_audio(soundfile_wav(samples, "PCM_24"))
    np.testing.assert_allclose(decoded, samples, atol=1e-6)


def test_stereo_is_mixed_down_to_mono() -> None:
    left, right = sine(1000), sine(1000, phase=1.0)
    decoded, _ = decode_audio(soundfile_wav(np.stack([left, right], axis=1), "FLOAT"))
    np.testing.assert_allclose(decoded, (left + right) / 2, atol=1e-6)


def test_wave_format_extensible_and_unknown_chunks() -> None:
    samples = sine(300)
    guid_float = struct.pack("<H", 3) + bytes.fromhex("000000001000800000aa00389b71")
    fmt = struct.pack("<HHIIHHHHI", 0xFFFE, 1, RATE, RATE * 4, 4, 32, 22, 32, 4) + guid_float
    data = riff((b"LIST", b"INFOjunk!"), (b"fmt ", fmt), (b"fact", b"\0" * 4), (b"data", samples.tobytes()))
    decoded, rate = decode_audio(data)
    assert rate == RATE
    np.testing.assert_array_equal(decoded, samples)


def test_soundfile_extensible_multichannel_wav() -> None:
    samples = np.stack([sine(500)] * 3, axis=1)
    data = soundfile_wav(samples, "PCM_24", container="WAVEX")
    assert struct.unpack_from("<H", data, 20)[0] == 0xFFFE
    np.testing.assert_allclose(decode_audio(data)[0], samples[:, 0], atol=1e-4)


def test_ogg_vorbis_decodes() -> None:
    samples = sine(4800)
    decoded, rate = decode_audio(soundfile_wav(samples, "VORBIS", container="OGG"))
    assert rate == RATE and len(decoded) == len(samples)
    assert np.abs(decoded - samples).max() < 0.05  # lossy


PCM = pcm16(sine(100))
BAD_INPUTS = {
    "empty": (b"", "audio is empty"),
    "text": (b"hello, this is not audio", "not a WAV"),
    "header only": (b"RIFF\0\0\0\0WAVE", "no data chunk"),
    "truncated": (
        riff(fmt_chunk()) + b"data" + struct.pack("<I", 1000) + PCM[:50],
        "truncated: data chunk declares 1000 bytes but 50 follow",
    ),
    "no fmt": (riff((b"data", PCM)), "no fmt chunk"),
    "short fmt": (riff((b"fmt ", b"\1\0"), (b"data", PCM)), "fmt chunk is 2 bytes"),
    "zero channels": (riff(fmt_chunk(channels=0), (b"data", PCM)), "0 channels"),
    "absurd rate": (riff(fmt_chunk(rate=4_000_000_000), (b"data", PCM)), "sample rate 4000000000 Hz is outside"),
    "zero rate": (riff(fmt_chunk(rate=0), (b"data", PCM)), "sample rate 0 Hz"),
    "mu-law": (riff(fmt_chunk(tag=7, bits=8), (b"data", PCM)), r"format tag 7, 8-bit\) is not supported; use PCM"),
    "12-bit": (riff(fmt_chunk(bits=12), (b"data", PCM)), "12-bit"),
    "nan floats": (riff(fmt_chunk(tag=3, bits=32), (b"data", np.full(4, np.nan, "<f4").tobytes())), "NaN"),
    "broken flac": (b"fLaC" + b"\0" * 40, "FLAC audio could not be decoded"),
    "broken ogg": (b"OggS" + b"\xff" * 40, "OGG audio could not be decoded"),
}


@pytest.mark.parametrize(("data", "message"), BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_audio_is_refused_with_a_reason(data: bytes, message: str) -> None:
    with pytest.raises(AudioDecodeError, match=message):
        decode_audio(data)


def _decodes_or_refuses(data: bytes) -> None:
    try:
        samples, rate = decode_audio(data)
    except AudioDecodeError:
        return
    assert samples.dtype == np.float32 and samples.ndim == 1 and rate > 0


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_random_bytes_only_raise_audio_decode_error(data: bytes) -> None:
    _decodes_or_refuses(data)


VALID = [
    encode(sine(64), RATE, "wav"),
    soundfile_wav(np.stack([sine(64)] * 2, axis=1), "PCM_24"),
    soundfile_wav(sine(64), "FLOAT"),
    soundfile_wav(np.stack([sine(64)] * 3, axis=1), "PCM_16", container="WAVEX"),
    encode(sine(64), RATE, "flac"),
]


@settings(max_examples=500)
@given(st.sampled_from(VALID), st.data())
def test_mutated_valid_files_only_raise_audio_decode_error(original: bytes, data: st.DataObject) -> None:
    mutated = bytearray(original)
    for _ in range(data.draw(st.integers(1, 8))):
        mutated[data.draw(st.integers(0, len(mutated) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(mutated)))
    _decodes_or_refuses(bytes(mutated[:cut]))


# --- crossfading --------------------------------------------------------------------------------

FADE = 480  # 10 ms at 48 kHz


def max_step(samples: np.ndarray) -> float:
    return float(np.abs(np.diff(samples)).max())


def test_crossfade_removes_the_click_a_hard_join_makes() -> None:
    first = sine(4800)  # 22 whole cycles: ends near 0
    second = sine(4800, phase=np.pi / 2)  # starts at its peak: a hard join jumps by 0.5
    smooth_bound = 3 * 0.5 * 2 * np.pi * 220 / RATE  # three times the sine's own largest step
    assert max_step(np.concatenate([first, second])) > 0.45 > smooth_bound
    joined = crossfade_join([first, second], FADE)
    assert max_step(joined) < smooth_bound
    assert len(joined) == len(first) + len(second) - FADE


def test_crossfade_is_equal_power_and_exact() -> None:
    a, b = np.ones(1000, np.float32), np.full(1000, 0.5, np.float32)
    joined = crossfade_join([a, b], 100)
    t = (np.arange(100) + 0.5) * np.pi / 200
    np.testing.assert_array_equal(joined[:900], a[:900])
    np.testing.assert_allclose(joined[900:1000], np.cos(t) + 0.5 * np.sin(t), rtol=1e-6)
    np.testing.assert_array_equal(joined[1000:], b[100:])


def test_first_segment_has_no_fade_in_and_latency_is_one_fade() -> None:
    fader = Crossfader(100)
    out = fader.push(np.ones(250, np.float32), new_segment=True)
    np.testing.assert_array_equal(out, np.ones(150))
    assert fader.push(np.ones(50, np.float32), new_segment=False).size == 50
    np.testing.assert_array_equal(fader.flush(), np.ones(100))
    assert fader.flush().size == 0


def test_short_segments_and_empty_chunks_are_joined_plainly() -> None:
    long, short = np.ones(300, np.float32), np.full(50, 0.5, np.float32)
    # long|short and short|long are too short to fade; the empty segment adds no join at all.
    joined = crossfade_join([long, short, long, np.zeros(0, np.float32), long], 100)
    assert len(joined) == 300 + 50 + 300 + 300 - 100
    np.testing.assert_array_equal(joined[:350], np.concatenate([long, short]))


def test_zero_fade_concatenates_and_negative_fade_is_refused() -> None:
    parts = [sine(10), sine(20, phase=1.0)]
    np.testing.assert_array_equal(crossfade_join(parts, 0), np.concatenate(parts))
    with pytest.raises(ValueError, match="fade_samples must be 0 or more, got -1"):
        Crossfader(-1)
    with pytest.raises(ValueError, match=r"1-D mono arrays, got shape \(2, 2\)"):
        Crossfader(1).push(np.zeros((2, 2)), new_segment=True)


segment_lengths = st.lists(st.integers(0, 60), min_size=1, max_size=6)


@settings(max_examples=300)
@given(segment_lengths, st.integers(0, 25), st.data())
def test_streaming_equals_whole_join_for_any_chunking(lengths: list[int], fade: int, data: st.DataObject) -> None:
    rng = np.random.default_rng(sum(lengths) + fade)
    segments = [rng.uniform(-1, 1, n).astype(np.float32) for n in lengths]
    fader, streamed = Crossfader(fade), []
    for segment in segments:
        cuts = sorted(data.draw(st.lists(st.integers(0, len(segment)), max_size=4)))
        chunks = np.split(segment, cuts)  # may include empty chunks
        for i, chunk in enumerate(chunks):
            streamed.append(fader.push(chunk, new_segment=i == 0))
    streamed.append(fader.flush())
    whole = crossfade_join(segments, fade)
    np.testing.assert_array_equal(np.concatenate(streamed), whole)
    nonempty = [n for n in lengths if n]
    joins = sum(1 for a, b in itertools.pairwise(nonempty) if fade and a >= fade and b >= fade)
    assert len(whole) == sum(lengths) - fade * joins
