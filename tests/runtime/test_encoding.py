"""Every response format out of runtime/encoding.py, streamed chunk by chunk and whole, decoded by someone else
(tests/support/audio_decode.py says which decoder reads which format, and why)."""

from __future__ import annotations

import typing

import numpy as np
import pytest

from tests.support.audio_decode import decode, extra_samples
from voxdeploy.contracts.runtime import ResponseFormat
from voxdeploy.runtime.encoding import FORMATS, SAMPLE_RATES, Encoder, UnsupportedRate, check_rate, encode, to_pcm16

ENGINE_RATE = 48_000
"""VoxCPM2's rate: what the engines hand the Encoder."""
TONE_HZ = 440.0
SECONDS = 2.05
"""Not a whole number of any codec's frames, nor of the chunks: every encoder has a partial frame to flush."""
CHUNK_SECONDS = 0.25
"""What one push holds: a few hundred ms, as an engine's chunks (VoxCPM2: 160 ms steps, often batched)."""
RATES = (24_000, 48_000)
"""OpenAI's pcm rate (the server's default) and the engine's own (no resampling)."""


def tone(seconds: float = SECONDS, freq: float = TONE_HZ) -> np.ndarray:
    t = np.arange(round(seconds * ENGINE_RATE)) / ENGINE_RATE
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def chunks(samples: np.ndarray, seconds: float = CHUNK_SECONDS) -> list[np.ndarray]:
    step = round(seconds * ENGINE_RATE)
    return [samples[i : i + step] for i in range(0, len(samples), step)]


def streamed(fmt: str, rate: int, samples: np.ndarray) -> tuple[list[bytes], bytes]:
    """(what each push returned, what finish returned)."""
    encoder = Encoder(fmt, ENGINE_RATE, rate)
    pushed = [encoder.push(chunk) for chunk in chunks(samples)]
    return pushed, encoder.finish()


def dominant_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * rate / len(samples))


MODES = pytest.mark.parametrize("whole", [False, True], ids=["streamed", "whole"])
EVERY_FORMAT_AT_BOTH_RATES = pytest.mark.parametrize(
    ("fmt", "rate"), [(fmt, rate) for fmt in FORMATS for rate in RATES if rate in FORMATS[fmt].rates]
)


def answer(fmt: str, rate: int, whole: bool, samples: np.ndarray) -> bytes:
    if whole:
        return encode(samples, ENGINE_RATE, fmt, rate)
    pushed, tail = streamed(fmt, rate, samples)
    return b"".join(pushed) + tail


# --- what comes out decodes to what went in ------------------------------------------------------------------------


def test_both_rates_are_offered_by_every_format() -> None:
    """The parametrisations below skip no format at either rate."""
    assert all(rate in FORMATS[fmt].rates for fmt in FORMATS for rate in RATES)


@EVERY_FORMAT_AT_BOTH_RATES
@MODES
def test_decoded_duration_matches_the_input(fmt: str, rate: int, whole: bool) -> None:
    samples = tone()
    decoded, decoded_rate = decode(fmt, answer(fmt, rate, whole, samples), rate, whole)
    assert decoded_rate == rate  # Ogg Opus too: its header keeps the input's rate, which libsndfile decodes at
    excess = len(decoded) - round(len(samples) * rate / ENGINE_RATE)
    assert 0 <= excess <= extra_samples(fmt, rate, whole), (fmt, rate, excess)


@EVERY_FORMAT_AT_BOTH_RATES
@MODES
def test_a_440_hz_tone_stays_440_hz(fmt: str, rate: int, whole: bool) -> None:
    """A resampler that got the ratio wrong, or a header stating the wrong rate, moves the peak."""
    decoded, decoded_rate = decode(fmt, answer(fmt, rate, whole, tone()), rate, whole)
    assert abs(dominant_hz(decoded, decoded_rate) - TONE_HZ) <= 2.0  # FFT bins are 1 / 2.05 s = 0.49 Hz apart


@pytest.mark.parametrize("rate", SAMPLE_RATES)
@MODES
def test_pcm_is_two_bytes_per_sample_at_the_target_rate(rate: int, whole: bool) -> None:
    samples = tone()
    data = answer("pcm", rate, whole, samples)
    assert len(data) == round(len(samples) * rate / ENGINE_RATE) * 2


def test_pcm_at_the_engine_rate_is_the_samples_themselves() -> None:
    samples = tone()
    assert answer("pcm", ENGINE_RATE, False, samples) == to_pcm16(samples).tobytes()
    assert encode(samples, ENGINE_RATE, "pcm") == to_pcm16(samples).tobytes()


@pytest.mark.parametrize(("fmt", "rate"), [(fmt, rate) for fmt in FORMATS for rate in FORMATS[fmt].rates])
def test_every_rate_a_format_offers_is_encoded_at_that_rate(fmt: str, rate: int) -> None:
    """FORMATS promises no rate its codec turns down or silently changes (a request would fail, or play wrong)."""
    samples = tone(0.5)
    decoded, decoded_rate = decode(fmt, encode(samples, ENGINE_RATE, fmt, rate), rate, True)
    assert decoded_rate == rate
    assert 0 <= len(decoded) - round(len(samples) * rate / ENGINE_RATE) <= extra_samples(fmt, rate, True)


# --- streaming -----------------------------------------------------------------------------------------------------

FIRST_PUSH_EMITS = {
    "mp3": "libmp3lame hands back a frame per 1152 samples (576 below 32 kHz) once its 576-sample delay is filled",
    "opus": "libopus codes 20 ms frames and the Ogg muxer is told to end a page every 20 ms (page_duration), not 1 s",
    "aac": "the AAC encoder hands back a 1024-sample frame after one frame of priming",
    "flac": "the FLAC encoder hands back a block per ~96 ms (4608 samples at 48 kHz, 2304 at 24 kHz)",
    "wav": "no codec: the header goes out with its sizes unknown (0xFFFFFFFF) and the samples follow",
    "pcm": "no codec and no container: the samples themselves",
}
"""Why the first 250 ms push of each format already holds audio. Below ~100 ms at 24 kHz mp3, aac and flac may hand
back nothing yet (the resampler's delay leaves less than a frame), which is not asserted either way."""


def test_every_format_says_why_it_emits_early() -> None:
    assert set(FIRST_PUSH_EMITS) == set(FORMATS)


@EVERY_FORMAT_AT_BOTH_RATES
def test_streamed_audio_starts_before_the_input_ends(fmt: str, rate: int) -> None:
    """The first push returns bytes that decode to audio on their own: the answer can leave before the engine is
    done. Decoded by the same decoder as the whole stream (PyAV for aac and flac, a stream's FLAC having no length)."""
    pushed, _ = streamed(fmt, rate, tone())
    decoded, _ = decode(fmt, pushed[0], rate, whole=False)
    assert len(decoded) > 0, FIRST_PUSH_EMITS[fmt]
    assert len(pushed) > 2 and all(pushed[1:-1]), "every later whole 250 ms push holds audio too"


@pytest.mark.parametrize(("fmt", "rate"), [(fmt, rate) for fmt in FORMATS if fmt != "pcm" for rate in RATES])
def test_an_answer_sent_whole_is_held_until_finish(fmt: str, rate: int) -> None:
    """A container's header can only state the length once all is in. (Raw pcm has no header: its whole Encoder
    hands the samples back from push as a streaming one does, which `encode` joins to the tail from finish.)"""
    samples = tone()
    encoder = Encoder(fmt, ENGINE_RATE, rate, whole=True)
    assert [encoder.push(chunk) for chunk in chunks(samples)] == [b""] * len(chunks(samples))
    decoded, _ = decode(fmt, encoder.finish(), rate, whole=True)
    excess = len(decoded) - round(len(samples) * rate / ENGINE_RATE)
    assert 0 <= excess <= extra_samples(fmt, rate, whole=True)


# --- what is refused, and the samples' edges ------------------------------------------------------------------------

LIBOPUS_RATES = "8000, 12000, 16000, 24000, 48000"
"""The rates opus_encoder_create accepts (libopus's opus.h); any other is OPUS_BAD_ARG."""


@pytest.mark.parametrize("rate", [22_050, 44_100])
def test_opus_refuses_rates_libopus_cannot_take_naming_those_it_can(rate: int) -> None:
    for attempt in (
        lambda: check_rate("opus", rate),
        lambda: Encoder("opus", ENGINE_RATE, rate),
        lambda: encode(tone(0.1), ENGINE_RATE, "opus", rate),
    ):
        with pytest.raises(UnsupportedRate) as caught:
            attempt()
        assert str(rate) in str(caught.value) and LIBOPUS_RATES in str(caught.value)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_a_rate_no_request_may_ask_for_is_refused(fmt: str) -> None:
    with pytest.raises(UnsupportedRate, match="11025"):
        Encoder(fmt, ENGINE_RATE, 11_025)


def test_to_pcm16_clips_overshoot_and_silences_nan() -> None:
    samples = np.array([0.0, 0.25, -0.25, 1.0, -1.0, 1.5, -3.0, np.inf, -np.inf, np.nan], dtype=np.float32)
    assert to_pcm16(samples).tolist() == [0, 8192, -8192, 32767, -32767, 32767, -32767, 32767, -32767, 0]
    assert to_pcm16(samples).dtype == np.dtype("<i2")


def test_overshoot_and_nan_survive_a_whole_encoder_as_clipped_audio() -> None:
    """An engine's glitch reaches the client clipped and silenced, never wrapped round to the opposite sign."""
    samples = np.concatenate([np.full(4800, 1.7, np.float32), np.full(4800, np.nan, np.float32)])
    decoded, _ = decode("wav", encode(samples, ENGINE_RATE, "wav"), ENGINE_RATE, True)
    assert np.all(decoded[:4800] > 0.99) and np.all(decoded[4800:] == 0.0)


# --- one list of formats, served as vLLM-Omni serves them ----------------------------------------------------------

VLLM_OMNI_MEDIA_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}
"""vLLM-Omni's media types: AudioMixin.create_audio's `supported_formats` in
vllm_omni/entrypoints/openai/audio_utils_mixin.py (vllm-project/vllm-omni at be81443c, 2025-12-28, lists all six;
its protocol/audio.py at 0131cb55 names the formats but holds no media types, and no longer lists aac). OpenAI's
API reference types the speech response as a binary body and names no media type per format."""


def test_content_types_are_vllm_omnis() -> None:
    assert {name: fmt.content_type for name, fmt in FORMATS.items()} == VLLM_OMNI_MEDIA_TYPES


def test_formats_are_the_one_list_requests_and_settings_accept() -> None:
    assert tuple(FORMATS) == typing.get_args(ResponseFormat)
