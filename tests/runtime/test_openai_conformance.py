"""A real `voxdeploy serve --engine sim` on 127.0.0.1 as the official `openai` client sees it: every response format
streamed and whole, the documented streaming pattern, server-sent events, voices, models, and the voice library.

One server for the module, from a settings file: a SQLite voice store in the module's tmp directory, two API keys (one
an admin of the voice library), `tts-1` as a model alias. Answers are decoded by libsndfile (soundfile) where it reads
the format; AAC and a streamed FLAC (whose header has no length) by PyAV, i.e. FFmpeg's own decoders, since libsndfile
reads neither and no other decoder is installed. Durations are compared with the whole WAV of the same request.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import numpy as np
import openai
import pytest
import yaml

from tests.support.audio_decode import decode, extra_samples
from tests.support.processes import Served, start_serve
from voxdeploy.contracts.api import SAMPLE_RATE_HEADER, VOICES_PATH
from voxdeploy.contracts.model import MODEL_ID
from voxdeploy.contracts.runtime import SpeechLimits
from voxdeploy.contracts.voices import DESIGN_MAX_CHARS, OPENAI_VOICES, TRANSCRIPT_MAX_CHARS, VoiceSettings
from voxdeploy.runtime.encoding import FORMATS, encode

TEXT = "The quick brown fox jumps over the lazy dog, twice."
SEED = 7
DEFAULT_RATE = SpeechLimits().sample_rate
MODEL_ALIAS = "tts-1"
LONG_TEXT = (
    "Streaming speech matters most when the text is long. A listener should hear the first words while the rest "
    "of the paragraph is still being generated, instead of waiting for the whole answer to be synthesized. This "
    "paragraph runs to several sentences so that the server splits it, synthesizes each part in turn and joins "
    "them without a click. The client reads the audio as it arrives, chunk by chunk, and could play it at once. "
    "If the first byte only came at the end, streaming would be nothing but a slower download. The measurement "
    "below records when the first byte arrived and when the last one did, and compares the two. A healthy "
    "server sends its first audio within a fraction of the total time, whatever the speed of the machine is."
)
"""About 750 characters of English: split into three parts at the server's 300-character limit."""

SIM = {"kind": "sim", "rtf": 0.1, "firstAudioSeconds": 0.12}
"""A simulated engine ten times faster than real time, first audio after 120 ms (the sim's default)."""


def frames(fmt: str, data: bytes, rate: int, whole: bool) -> int:
    """Samples an answer decodes to, checking it decodes at the rate it was asked for."""
    samples, decoded_rate = decode(fmt, data, rate, whole)
    assert decoded_rate == rate
    return len(samples)


def assert_same_length(fmt: str, data: bytes, reference: int, rate: int, whole: bool) -> None:
    excess = frames(fmt, data, rate, whole) - reference
    assert 0 <= excess <= extra_samples(fmt, rate, whole), (fmt, "whole" if whole else "streamed", excess)


@dataclass(frozen=True)
class Server:
    served: Served
    keys: dict[str, str]
    """name -> key; `admin` is in auth.admins, `reader` is not."""

    def client(self, key: str = "reader") -> openai.OpenAI:
        return openai.OpenAI(base_url=self.served.url + "/v1", api_key=self.keys[key], max_retries=0, timeout=60)

    def http(self, method: str, path: str, key: str = "admin", **kwargs: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.keys[key]}"}
        return httpx.request(method, self.served.url + path, headers=headers, timeout=60, **kwargs)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    where = tmp_path_factory.mktemp("conformance")
    keys = {"admin": secrets.token_hex(24), "reader": secrets.token_hex(24)}
    (where / "keys").mkdir()
    for name, key in keys.items():
        (where / "keys" / name).write_text(key)
    settings = {
        "engine": SIM,
        "host": "127.0.0.1",
        "speech": {"modelAliases": [MODEL_ALIAS]},
        "voices": {"store": f"sqlite:///{where / 'voices.db'}"},
        "auth": {"keys": str(where / "keys"), "admins": ["admin"]},
    }
    (where / "runtime.yaml").write_text(yaml.safe_dump(settings))
    served = start_serve(["--config", str(where / "runtime.yaml")], where / "serve.log")
    try:
        yield Server(served, keys)
    finally:
        served.stop()


def speak(client: openai.OpenAI, text: str = TEXT, voice: object = "default", **kwargs: object):
    """`client.audio.speech.create` with the module's model and seed; `extra_body` is merged."""
    extra = {"seed": SEED, **kwargs.pop("extra_body", {})}
    return client.audio.speech.create(model=MODEL_ID, voice=voice, input=text, extra_body=extra, **kwargs)


@pytest.fixture(scope="module")
def reference(server: Server) -> int:
    """Samples of the whole WAV of TEXT (same seed) at the default rate: what every other answer is held to."""
    wav = speak(server.client(), response_format="wav", extra_body={"stream": False})
    return frames("wav", wav.content, DEFAULT_RATE, whole=True)


# --- every format, streamed and whole -------------------------------------------------------------------------------

FORMAT_NAMES = list(FORMATS)


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_streamed_by_default(server: Server, reference: int, fmt: str) -> None:
    """OpenAI's rule: no `stream` field means the audio is streamed as it is made."""
    response = speak(server.client(), response_format=fmt).response
    assert response.status_code == 200
    assert response.headers["content-type"] == FORMATS[fmt].content_type
    assert response.headers[SAMPLE_RATE_HEADER] == str(DEFAULT_RATE)
    assert response.headers.get("transfer-encoding") == "chunked" and "content-length" not in response.headers
    assert_same_length(fmt, response.content, reference, DEFAULT_RATE, whole=False)


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_streamed_with_streaming_response(server: Server, reference: int, fmt: str) -> None:
    with server.client().audio.speech.with_streaming_response.create(
        model=MODEL_ID, voice="default", input=TEXT, response_format=fmt, extra_body={"seed": SEED}
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == FORMATS[fmt].content_type
        assert response.headers[SAMPLE_RATE_HEADER] == str(DEFAULT_RATE)
        assert response.headers.get("transfer-encoding") == "chunked" and "content-length" not in response.headers
        audio = b"".join(response.iter_bytes())
    assert_same_length(fmt, audio, reference, DEFAULT_RATE, whole=False)


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_whole_with_stream_false(server: Server, reference: int, fmt: str) -> None:
    response = speak(server.client(), response_format=fmt, extra_body={"stream": False}).response
    assert response.status_code == 200
    assert response.headers["content-type"] == FORMATS[fmt].content_type
    assert response.headers[SAMPLE_RATE_HEADER] == str(DEFAULT_RATE)
    assert int(response.headers["content-length"]) == len(response.content)
    assert_same_length(fmt, response.content, reference, DEFAULT_RATE, whole=True)


def test_default_format_is_mp3(server: Server, reference: int) -> None:
    """A request naming no response_format gets the server's default, OpenAI's mp3."""
    response = server.client().audio.speech.create(model=MODEL_ID, voice="alloy", input=TEXT).response
    assert SpeechLimits().default_format == "mp3"
    assert response.headers["content-type"] == FORMATS["mp3"].content_type
    assert_same_length("mp3", response.content, reference, DEFAULT_RATE, whole=False)


@pytest.mark.parametrize("stream", [None, False], ids=["streamed", "whole"])
def test_pcm_is_24_khz_by_default_and_48_khz_on_request(server: Server, stream: bool | None) -> None:
    extra = {} if stream is None else {"stream": stream}
    low = speak(server.client(), response_format="pcm", extra_body=extra).response
    high = speak(server.client(), response_format="pcm", extra_body={**extra, "sample_rate": 48_000}).response
    assert (low.headers[SAMPLE_RATE_HEADER], high.headers[SAMPLE_RATE_HEADER]) == ("24000", "48000")
    assert DEFAULT_RATE == 24_000
    assert abs(len(high.content) - 2 * len(low.content)) <= 4, (len(high.content), len(low.content))


def test_a_rate_the_codec_cannot_take_is_a_400_naming_those_it_can(server: Server) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        speak(server.client(), response_format="opus", extra_body={"sample_rate": 44_100})
    assert caught.value.body["param"] == "sample_rate"
    assert "8000, 12000, 16000, 24000, 48000" in caught.value.body["message"]


# --- the documented streaming pattern --------------------------------------------------------------------------------


def test_first_audio_arrives_long_before_the_last(server: Server) -> None:
    """OpenAI's documented pattern, on ~750 characters: the first byte must come well before the end (a structural
    property: first < total / 3), whatever the machine's speed. Both figures are printed (pytest -s shows them)."""
    assert 700 <= len(LONG_TEXT) <= 800
    size, first = 0, None
    start = time.perf_counter()
    with server.client().audio.speech.with_streaming_response.create(
        model=MODEL_ID, voice="alloy", input=LONG_TEXT, response_format="pcm"
    ) as response:
        for chunk in response.iter_bytes():
            if first is None and chunk:
                first = time.perf_counter() - start
            size += len(chunk)
    total = time.perf_counter() - start
    audio = size / 2 / DEFAULT_RATE
    figures = {"first_byte_s": round(first or total, 3), "total_s": round(total, 3), "audio_s": round(audio, 2)}
    print(f"\nfirst byte after {figures['first_byte_s']} s of {figures['total_s']} s ({audio:.1f} s of audio)")
    print(json.dumps({"test": "openai_streaming_pattern", "chars": len(LONG_TEXT), "sim": SIM, **figures}))
    assert first is not None and audio > 30
    assert first < total / 3, figures


# --- server-sent events ----------------------------------------------------------------------------------------------


def events_of(response) -> list[tuple[str, dict]]:
    """(event name, data) of each event of a text/event-stream body."""
    events, name, data = [], None, []
    for line in response.iter_lines():
        if line.startswith("event:"):
            name = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            data.append(line.removeprefix("data:").strip())
        elif not line and data:
            events.append((name, json.loads("\n".join(data))))
            name, data = None, []
    if data:
        events.append((name, json.loads("\n".join(data))))
    return events


@pytest.mark.parametrize(
    ("fmt", "how"),
    [("pcm", "stream_format"), ("mp3", "stream_format"), ("wav", "stream_format"), ("pcm", "stream")],
    ids=["pcm-sse", "mp3-sse", "wav-sse", "pcm-stream-true"],
)
def test_server_sent_events_carry_the_same_audio(server: Server, fmt: str, how: str) -> None:
    """`stream_format: "sse"` (OpenAI's), or vLLM-Omni's `stream: true` alone: deltas, then speech.audio.done."""
    extra = {"seed": SEED, **({"stream_format": "sse"} if how == "stream_format" else {"stream": True})}
    with server.client().audio.speech.with_streaming_response.create(
        model=MODEL_ID, voice="default", input=TEXT, response_format=fmt, extra_body=extra
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers[SAMPLE_RATE_HEADER] == str(DEFAULT_RATE)
        events = events_of(response)
    deltas, (last_name, done) = events[:-1], events[-1]
    assert len(deltas) > 1
    assert all(name == data["type"] == "speech.audio.delta" for name, data in deltas)
    assert all(data["response_format"] == fmt for _, data in deltas)
    audio = b"".join(base64.b64decode(data["audio"], validate=True) for _, data in deltas)
    whole = speak(server.client(), response_format=fmt, extra_body={"stream": False}).content
    assert_same_length(fmt, audio, frames(fmt, whole, DEFAULT_RATE, whole=True), DEFAULT_RATE, whole=False)

    assert last_name == done["type"] == "speech.audio.done"
    usage = done["usage"]
    assert all(type(usage[field]) is int and usage[field] > 0 for field in ("input_tokens", "output_tokens"))
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


# --- voices and models -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "voice", ["default", "nova", "alloy", {"id": "default"}], ids=["default", "nova", "alloy", "id"]
)
def test_voices_by_name_alias_and_id_object(server: Server, voice: object) -> None:
    response = speak(server.client(), voice=voice, response_format="wav", extra_body={"stream": False})
    assert response.response.status_code == 200
    assert frames("wav", response.content, DEFAULT_RATE, whole=True) > DEFAULT_RATE / 2


def test_an_openai_voice_name_is_the_default_voice(server: Server) -> None:
    """OpenAI's names map to `default` unless a stack maps them elsewhere: the same audio, byte for byte."""
    assert VoiceSettings().aliases["nova"] == "default"
    as_alias = speak(server.client(), voice="nova", response_format="wav", extra_body={"stream": False}).content
    as_default = speak(server.client(), voice="default", response_format="wav", extra_body={"stream": False}).content
    assert as_alias == as_default


def test_an_unknown_voice_is_a_400_listing_the_voices(server: Server) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        speak(server.client(), voice="no-such-voice")
    body = caught.value.body
    assert body["param"] == "voice"
    message = body["message"]
    assert "no-such-voice" in message and "default" in message
    assert all(name in message for name in OPENAI_VOICES)


def test_an_unknown_model_is_openais_404(server: Server) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        server.client().audio.speech.create(model="no-such-model", voice="default", input=TEXT)
    assert caught.value.status_code == 404
    assert caught.value.body["code"] == "model_not_found"
    assert caught.value.body["param"] == "model"


def test_a_model_alias_of_the_settings_is_served(server: Server) -> None:
    response = server.client().audio.speech.create(model=MODEL_ALIAS, voice="alloy", input=TEXT, response_format="wav")
    assert response.response.status_code == 200
    assert frames("wav", response.content, DEFAULT_RATE, whole=True) > DEFAULT_RATE / 2


# --- the voice library -----------------------------------------------------------------------------------------------


def sample_wav(duration: float) -> bytes:
    """A voice sample: a vowel-like tone, as WAV made by the runtime's own encoder."""
    t = np.arange(round(duration * 24_000)) / 24_000
    samples = (0.3 * np.sin(2 * np.pi * 180 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    return encode(samples, 24_000, "wav")


def create_voice(server: Server, key: str = "admin", sample: bytes | None = None, **fields: str) -> httpx.Response:
    files = {name: (None, value) for name, value in fields.items()}
    if sample is not None:
        files["audio_sample"] = ("sample.wav", sample, "audio/wav")
    return server.http("POST", VOICES_PATH, key, files=files)


def whole_wav(server: Server, voice: object) -> bytes:
    return speak(server.client(), voice=voice, response_format="wav", extra_body={"stream": False}).content


def test_a_cloned_voice_from_creation_to_deletion(server: Server) -> None:
    created = create_voice(server, sample=sample_wav(2.0), name="narrator", ref_text="A short sample of a voice.")
    assert created.status_code == 200, created.text
    voice = created.json()
    assert voice["id"].startswith("voice_") and voice["object"] == "audio.voice"
    assert (voice["name"], voice["kind"], voice["success"]) == ("narrator", "clone", True)
    assert abs(voice["reference_seconds"] - 2.0) < 0.01

    listing = server.http("GET", VOICES_PATH, "reader").json()  # any key may read the library
    assert voice["id"] in [entry["id"] for entry in listing["data"]] and "narrator" in listing["voices"]

    by_name, by_id = whole_wav(server, "narrator"), whole_wav(server, {"id": voice["id"]})
    assert by_name == by_id, "a name and its id are the same voice"

    refused = server.http("DELETE", f"{VOICES_PATH}/{voice['id']}", "reader")
    assert refused.status_code == 403 and refused.json()["error"]["type"] == "permission_error"
    assert whole_wav(server, "narrator") == by_name, "a refused delete leaves the voice"

    deleted = server.http("DELETE", f"{VOICES_PATH}/{voice['id']}", "admin")
    assert deleted.status_code == 200 and deleted.json()["deleted"] is True
    assert server.http("GET", f"{VOICES_PATH}/{voice['id']}", "reader").status_code == 404
    for gone in ("narrator", {"id": voice["id"]}):
        with pytest.raises(openai.BadRequestError) as caught:
            whole_wav(server, gone)
        assert caught.value.body["param"] == "voice"


def test_a_non_admin_key_cannot_create_a_voice(server: Server) -> None:
    refused = create_voice(server, "reader", sample=sample_wav(2.0), name="not-allowed")
    assert refused.status_code == 403
    assert "not-allowed" not in server.http("GET", VOICES_PATH, "reader").json()["voices"]


def test_a_designed_voice(server: Server) -> None:
    created = create_voice(server, name="calm", speaker_description="A calm, low voice, speaking slowly")
    assert created.status_code == 200, created.text
    voice = created.json()
    assert (voice["kind"], voice["description"]) == ("design", "A calm, low voice, speaking slowly")
    assert server.http("GET", f"{VOICES_PATH}/{voice['id']}", "reader").json()["name"] == "calm"
    assert frames("wav", whole_wav(server, "calm"), DEFAULT_RATE, whole=True) > DEFAULT_RATE / 2
    assert whole_wav(server, {"id": voice["id"]}) == whole_wav(server, "calm")


def error_of(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()["error"]


def test_a_sample_that_is_not_audio_is_refused(server: Server) -> None:
    error = error_of(create_voice(server, sample=b"this is plain text, not audio", name="not-audio"), 400)
    assert error["param"] == "audio_sample"


def test_a_sample_over_the_limit_is_refused_naming_the_limit(server: Server) -> None:
    limit = VoiceSettings().max_sample_seconds
    error = error_of(create_voice(server, sample=sample_wav(limit + 10), name="too-long"), 400)
    assert error["param"] == "audio_sample"
    assert f"{limit:g} s" in error["message"] and f"{limit + 10:.2f} s" in error["message"]


def test_a_duplicate_name_is_a_409(server: Server) -> None:
    assert create_voice(server, name="twice", speaker_description="A bright voice").status_code == 200
    error = error_of(create_voice(server, name="twice", speaker_description="Another voice"), 409)
    assert error["param"] == "name"


def test_a_sample_and_a_description_together_are_refused(server: Server) -> None:
    error = error_of(create_voice(server, sample=sample_wav(2.0), name="both", speaker_description="A voice"), 400)
    assert "audio_sample" in error["message"] and "speaker_description" in error["message"]
    assert "both" not in server.http("GET", VOICES_PATH, "reader").json()["voices"]


@pytest.mark.parametrize(
    ("fields", "param", "words"),
    [
        ({"name": "blank", "speaker_description": ""}, "speaker_description", "at least 1 character"),
        ({"name": "wordy", "speaker_description": "x" * (DESIGN_MAX_CHARS + 1)}, "speaker_description", "at most"),
        ({"speaker_description": "A voice"}, "name", "'name' is required"),
        ({"name": "bad/name", "speaker_description": "A voice"}, "name", "should match pattern"),
        ({"name": "extra", "speaker_description": "A voice", "pitch": "high"}, "pitch", "unknown field 'pitch'"),
    ],
)
def test_a_bad_text_field_is_a_400_naming_it(server: Server, fields: dict[str, str], param: str, words: str) -> None:
    error = error_of(create_voice(server, **fields), 400)
    assert error["param"] == param and words in error["message"], error
    assert fields.get("name", "") not in server.http("GET", VOICES_PATH, "reader").json()["voices"]


def test_a_transcript_over_the_limit_is_refused(server: Server) -> None:
    long = "word " * (TRANSCRIPT_MAX_CHARS // 5 + 1)
    error = error_of(create_voice(server, sample=sample_wav(2.0), name="verbose", ref_text=long), 400)
    assert error["param"] == "ref_text" and f"at most {TRANSCRIPT_MAX_CHARS}" in error["message"]


@pytest.mark.parametrize(("path", "allowed"), [(VOICES_PATH, {"GET", "POST"}), (VOICES_PATH + "/x", {"GET", "DELETE"})])
def test_a_wrong_method_lists_every_method_of_the_path(server: Server, path: str, allowed: set[str]) -> None:
    refused = server.http("PUT", path, "admin")
    assert refused.status_code == 405 and refused.json()["error"]["code"] == 405
    assert set(refused.headers["Allow"].replace(" ", "").split(",")) == allowed | {"HEAD"}
