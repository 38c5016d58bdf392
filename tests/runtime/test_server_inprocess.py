"""The speech handler in-process over ASGI, with an engine that records what it was asked."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
from collections.abc import AsyncIterator

import httpx
import numpy as np
import pytest
import soundfile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voxdeploy.contracts.runtime import RuntimeConfig, SpeechLimits
from voxdeploy.contracts.voices import VoiceSettings, VoiceSpec
from voxdeploy.runtime import encoding
from voxdeploy.runtime.engines.base import Engine, EngineFailed, EngineRejected, Synthesis
from voxdeploy.runtime.server import create_app

RATE = 48000
NATIVE = SpeechLimits(sample_rate=RATE)
"""Audio sent at the engine's own rate, so byte counts follow the engine's chunks."""
CHUNK = 4800


class RecordingEngine(Engine):
    """Yields 3 chunks of a tone per call and keeps every Synthesis it was given."""

    name = "recording"
    sample_rate = RATE

    def __init__(self, fail: Exception | None = None) -> None:
        self.calls: list[Synthesis] = []
        self.fail = fail

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    @property
    def ready(self) -> bool:
        return True

    async def stream(self, synthesis: Synthesis) -> AsyncIterator[np.ndarray]:
        self.calls.append(synthesis)
        if self.fail is not None:
            raise self.fail
        for index in range(3):
            t = (index * CHUNK + np.arange(CHUNK)) / RATE
            yield (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
            await asyncio.sleep(0)


def wav_bytes(seconds: float, rate: int = 16000) -> bytes:
    t = np.arange(round(seconds * rate)) / rate
    return encoding.encode((0.2 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), rate, "wav")


async def post(engine: Engine, config: RuntimeConfig | None = None, **kwargs: object) -> httpx.Response:
    app = create_app(config or RuntimeConfig(), engine)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://runtime") as client:
        return await client.post("/v1/audio/speech", **kwargs)  # type: ignore[arg-type]


def run(coro):
    return asyncio.run(coro)


def test_voxcpm_parameters_reach_the_engine() -> None:
    engine = RecordingEngine()
    body = {
        "input": "Hello.",
        "model": "openbmb/VoxCPM2",
        "voice": "narrator",
        "cfg_value": 2.5,
        "inference_timesteps": 15,
        "normalize": True,
        "denoise": False,
        "seed": 7,
        "language": "en",
        "instructions": "A calm voice",
        "extra_params": {"temperature": 0.7},
        "speed": 1.25,
    }
    narrator = VoiceSpec(name="narrator", design="A low voice")
    response = run(post(engine, RuntimeConfig(voices=VoiceSettings(voices=[narrator])), json=body))
    assert response.status_code == 200, response.text
    call = engine.calls[0]
    assert (call.cfg_value, call.inference_timesteps, call.normalize, call.denoise, call.seed) == (
        2.5,
        15,
        True,
        False,
        7,
    )
    # a design voice's description comes first, the request's instructions after it
    assert (call.voice, call.language, call.instructions, call.speed) == (
        "narrator",
        "en",
        "A low voice, A calm voice",
        1.25,
    )
    assert call.extra_params == {"temperature": 0.7}


def test_reference_audio_as_base64_data_uri() -> None:
    engine = RecordingEngine()
    encoded = base64.b64encode(wav_bytes(2.0)).decode()
    body = {"input": "Clone me.", "ref_audio": f"data:audio/wav;base64,{encoded}", "ref_text": "Reference words."}
    response = run(post(engine, json=body))
    assert response.status_code == 200, response.text
    reference = engine.calls[0].reference
    assert reference is not None and reference.transcript == "Reference words."
    assert reference.sample_rate == 16000 and abs(reference.seconds - 2.0) < 1e-3


def test_reference_audio_as_multipart_file() -> None:
    engine = RecordingEngine()
    files = {"ref_audio": ("ref.wav", wav_bytes(1.5), "audio/wav")}
    data = {"input": "Clone me.", "ref_text": "Words.", "seed": "3", "cfg_value": "1.5", "stream": "false"}
    response = run(post(engine, data=data, files=files))
    assert response.status_code == 200, response.text
    call = engine.calls[0]
    assert call.reference is not None and abs(call.reference.seconds - 1.5) < 1e-3
    assert (call.seed, call.cfg_value) == (3, 1.5)


def test_long_input_is_split_and_joined_with_a_crossfade() -> None:
    engine = RecordingEngine()
    config = RuntimeConfig(speech=SpeechLimits(split_chars=40, crossfade_ms=10, sample_rate=RATE))
    text = "第一句话在这里。The second sentence is here! 第三句话也在这里？And a fourth one follows."
    response = run(post(engine, config, json={"input": text, "response_format": "pcm"}))
    assert response.status_code == 200
    segments = [call.text for call in engine.calls]
    assert len(segments) > 1 and all(len(s) <= 40 for s in segments)
    assert "".join(segments).replace(" ", "") == text.replace(" ", "")
    fade = round(0.010 * RATE)
    expected = len(segments) * 3 * CHUNK - (len(segments) - 1) * fade
    assert len(response.content) == 2 * expected


def test_short_input_is_one_engine_call() -> None:
    engine = RecordingEngine()
    assert run(post(engine, json={"input": "One. Two. Three."})).status_code == 200
    assert [c.text for c in engine.calls] == ["One. Two. Three."]


@pytest.mark.parametrize("fmt", ["wav", "flac", "pcm"])
@pytest.mark.parametrize("stream", [False, None], ids=["whole", "streamed"])
def test_lossless_formats_carry_every_sample(fmt: str, stream: bool | None) -> None:
    body = {"input": "Hi.", "response_format": fmt, "stream": stream}
    response = run(post(RecordingEngine(), RuntimeConfig(speech=NATIVE), json=body))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(encoding.FORMATS[fmt].content_type)
    assert response.headers["x-sample-rate"] == str(RATE)
    if fmt == "pcm":
        assert len(response.content) == 2 * 3 * CHUNK
    elif stream is False:  # a streamed flac's header has no length, which soundfile needs
        samples, rate = soundfile.read(io.BytesIO(response.content))
        assert rate == RATE and len(samples) == 3 * CHUNK


def test_the_default_is_openais_mp3_at_24_khz_streamed() -> None:
    response = run(post(RecordingEngine(), json={"input": "Hi."}))
    assert response.status_code == 200 and response.headers["content-type"] == "audio/mpeg"
    assert response.headers["x-sample-rate"] == "24000" and "content-length" not in response.headers
    samples, rate = soundfile.read(io.BytesIO(response.content))
    assert rate == 24000 and abs(len(samples) / rate - 3 * CHUNK / RATE) < 0.08  # MP3's encoder delay


def test_sse_stream_events() -> None:
    body = {"input": "Hi.", "stream": True, "response_format": "pcm"}
    response = run(post(RecordingEngine(), RuntimeConfig(speech=NATIVE), json=body))
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [block for block in response.text.split("\n\n") if block]
    names = [e.splitlines()[0] for e in events]
    assert names[-1] == "event: speech.audio.done"
    assert set(names[:-1]) == {"event: speech.audio.delta"} and len(names) >= 4
    deltas = [json.loads(e.splitlines()[1].removeprefix("data: ")) for e in events[:-1]]
    assert sum(len(base64.b64decode(d["audio"])) for d in deltas) == 2 * 3 * CHUNK


@pytest.mark.parametrize(
    ("error", "status"),
    [(EngineRejected("no such voice", "voice"), 400), (EngineFailed("CUDA error"), 500)],
)
def test_engine_errors_keep_their_meaning(error: Exception, status: int) -> None:
    response = run(post(RecordingEngine(fail=error), json={"input": "Hi."}))
    assert response.status_code == status
    assert response.json()["error"]["message"] == str(error)


def _bad(status: int, param: str, words: str, **kwargs: object) -> tuple[int, str, str, dict]:
    return status, param, words, kwargs


BAD_REQUESTS = [
    _bad(400, "input", "required", json={"voice": "default"}),
    _bad(400, "input", "blank", json={"input": "   "}),
    _bad(400, "input", "limit is 4000", json={"input": "a" * 4001}),
    _bad(
        400,
        "response_format",
        "'mp3', 'opus', 'aac', 'flac', 'wav' or 'pcm'",
        json={"input": "hi", "response_format": "ogg"},
    ),
    _bad(400, "speed", "less than or equal to 4", json={"input": "hi", "speed": 10}),
    _bad(400, "speed", "greater than or equal to 0.25", json={"input": "hi", "speed": 0}),
    _bad(400, "body", "malformed JSON", content=b'{"input": "hi"', headers={"content-type": "application/json"}),
    _bad(400, "body", "must be an object", content=b'["hi"]', headers={"content-type": "application/json"}),
    _bad(415, "content-type", "application/json", content=b"input=hi", headers={"content-type": "text/plain"}),
    _bad(400, "ref_audio", "not valid base64", json={"input": "hi", "ref_audio": "%%%not-base64%%%"}),
    _bad(400, "ref_audio", "not a WAV", json={"input": "hi", "ref_audio": base64.b64encode(b"hello there").decode()}),
    _bad(400, "ref_audio", "URLs are not fetched", json={"input": "hi", "ref_audio": "https://example.com/a.wav"}),
    _bad(
        400,
        "ref_audio",
        "must be 0.5 to 30 s",
        json={"input": "hi", "ref_audio": base64.b64encode(wav_bytes(0.1)).decode()},
    ),
    _bad(400, "sample_rate", "use one of 8000, 12000", json={"input": "hi", "sample_rate": 11025}),
    _bad(
        400,
        "sample_rate",
        "opus cannot be encoded at 44100 Hz",
        json={"input": "hi", "sample_rate": 44100, "response_format": "opus"},
    ),
    _bad(400, "voice", "voice 'zed' does not exist; this server has default", json={"input": "hi", "voice": "zed"}),
    _bad(404, "model", "The model `tts-1` does not exist", json={"input": "hi", "model": "tts-1"}),
    _bad(400, "voicez", "unknown field", json={"input": "hi", "voicez": "x"}),
    _bad(400, "seed", "valid integer", json={"input": "hi", "seed": "abc"}),
    _bad(400, "stream_format", "'sse' or 'audio'", json={"input": "hi", "stream_format": "mp4"}),
    _bad(413, "body", "limit", content=b"{" + b" " * 20000 + b"}", headers={"content-type": "application/json"}),
]


@pytest.mark.parametrize(
    ("status", "param", "words", "kwargs"), BAD_REQUESTS, ids=[f"{b[1]}-{b[2][:20]}" for b in BAD_REQUESTS]
)
def test_bad_requests_get_a_4xx_naming_the_field(status: int, param: str, words: str, kwargs: dict) -> None:
    engine = RecordingEngine()
    config = RuntimeConfig(speech=SpeechLimits(max_body_bytes=16384))
    response = run(post(engine, config, **kwargs))
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["param"] == param
    assert words in error["message"], error["message"]
    assert engine.calls == [], "nothing reaches the engine"


def test_speed_refused_by_an_engine_without_it() -> None:
    engine = RecordingEngine()
    engine.unsupported_fields = frozenset({"speed", "task_type"})
    response = run(post(engine, json={"input": "hi", "speed": 1.5}))
    assert response.status_code == 400 and response.json()["error"]["param"] == "speed"
    assert run(post(engine, json={"input": "hi", "speed": 1.0})).status_code == 200
    response = run(post(engine, json={"input": "hi", "task_type": "tts"}))
    assert response.status_code == 400 and response.json()["error"]["param"] == "task_type"


def test_ref_text_without_reference_audio_is_refused() -> None:
    response = run(post(RecordingEngine(), json={"input": "hi", "ref_text": "orphan transcript"}))
    assert response.status_code == 400 and response.json()["error"]["param"] == "ref_text"


def test_token_budget_and_task_type_reach_the_engine() -> None:
    engine = RecordingEngine()
    assert run(post(engine, json={"input": "hi", "max_new_tokens": 40, "task_type": "tts"})).status_code == 200
    assert (engine.calls[0].max_new_tokens, engine.calls[0].task_type) == (40, "tts")


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=8,
)
FIELDS = st.sampled_from(
    [
        "input",
        "model",
        "voice",
        "response_format",
        "speed",
        "stream",
        "stream_format",
        "sample_rate",
        "seed",
        "ref_audio",
        "ref_text",
        "cfg_value",
        "inference_timesteps",
        "normalize",
        "denoise",
        "extra_params",
        "max_new_tokens",
        "instructions",
        "junk",
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.dictionaries(FIELDS, JSON_VALUES, max_size=6) | JSON_VALUES)
def test_fuzzed_bodies_never_get_a_5xx(body: object) -> None:
    content = json.dumps(body, allow_nan=True).encode()
    response = run(post(RecordingEngine(), content=content, headers={"content-type": "application/json"}))
    assert response.status_code < 500, response.text
    if response.status_code != 200:
        assert response.json()["error"]["message"]


DEEP = "[" * 100_000
HOSTILE_FIELDS = [
    _bad(400, "body", "recursion limit", content='{"input": "hi", "extra_params": {"a": ' + DEEP + "}}"),
    _bad(400, "body", "malformed JSON", content='{"input": "hi", "voice": "\\ud800"}'),
    _bad(400, "body", "surrogate", content='{"input": "hi \\udc00"}'),
    _bad(400, "body", "number out of range", content='{"input": "hi", "seed": ' + "1" * 4301 + "}"),
    _bad(400, "body", "malformed JSON", content='{"input": "hi", "speed": NaN}'),
    _bad(400, "voice", "JSON object", files={"input": (None, "hi"), "voice": (None, '{"a":' * 50_000 + "1")}),
    _bad(400, "extra_params", "recursion limit", files={"input": (None, "hi"), "extra_params": (None, DEEP)}),
    _bad(400, "stream", "valid boolean", json={"input": "hi", "stream": "yes"}),
    _bad(400, "seed", "valid integer", json={"input": "hi", "seed": True}),
    _bad(400, "speed", "valid number", json={"input": "hi", "speed": "1.5"}),
    _bad(400, "stream", "JSON value", files={"input": (None, "hi"), "stream": (None, "yes")}),
    _bad(400, "seed", "valid integer", files={"input": (None, "hi"), "seed": (None, "1.5")}),
    _bad(400, "voice", "at most 128", json={"input": "hi", "voice": "v" * 129}),
    _bad(400, "voice", "voice.id: String should have at least 1", json={"input": "hi", "voice": {"id": ""}}),
    _bad(400, "input", "more than once", files=[("input", (None, "a")), ("input", (None, "b"))]),
]


@pytest.mark.parametrize(
    ("status", "param", "words", "kwargs"), HOSTILE_FIELDS, ids=[f"{b[1]}-{b[2][:20]}" for b in HOSTILE_FIELDS]
)
def test_hostile_fields_get_a_400_naming_them_not_a_500(status: int, param: str, words: str, kwargs: dict) -> None:
    """Each of these was a 500 or was accepted: deep nesting (RecursionError), lone surrogates, coerced types."""
    engine = RecordingEngine()
    headers = {"content-type": "application/json"} if "content" in kwargs else None
    response = run(post(engine, headers=headers, **kwargs))
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["param"] == param and words in error["message"], error
    assert engine.calls == []


def test_multipart_text_parts_follow_the_documented_parse() -> None:
    engine = RecordingEngine()
    parts = {
        "input": (None, "Hello"),
        "voice": (None, '{"id": "narrator"}'),
        "speed": (None, "1.5"),
        "seed": (None, "42"),
        "normalize": (None, "true"),
        "cfg_value": (None, "null"),
        "instructions": (None, "null"),
        "extra_params": (None, '{"top_k": 5}'),
    }
    narrator = VoiceSettings(voices=[VoiceSpec(name="narrator", design="A low voice")])
    assert run(post(engine, RuntimeConfig(voices=narrator), files=parts)).status_code == 200
    call = engine.calls[0]
    assert (call.voice, call.speed, call.seed, call.normalize, call.cfg_value) == ("narrator", 1.5, 42, True, None)
    assert call.instructions == "A low voice, null", "a text field takes the part as it is"
    assert call.extra_params == {"top_k": 5}


async def _exchange(engine: Engine, method: str, path: str, **kwargs: object) -> tuple[httpx.Response, str]:
    """(response, the /metrics text after it), with app exceptions left to the app's handlers as uvicorn does."""
    transport = httpx.ASGITransport(app=create_app(RuntimeConfig(), engine), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://runtime") as client:
        response = await client.request(method, path, **kwargs)  # type: ignore[arg-type]
        return response, (await client.get("/metrics")).text


@pytest.mark.parametrize(
    ("method", "path", "status", "words"),
    [("GET", "/nope", 404, "no route GET /nope"), ("GET", "/v1/audio/speech", 405, "use POST")],
)
def test_unknown_routes_and_methods_answer_json_errors(method: str, path: str, status: int, words: str) -> None:
    response, _ = run(_exchange(RecordingEngine(), method, path))
    assert response.status_code == status and response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert words in error["message"] and error["code"] == status and error["type"] == "invalid_request_error"
    if status == 405:
        assert response.headers["allow"] == "POST"


def test_an_unhandled_exception_is_a_counted_json_500() -> None:
    """Before, unhandled exceptions answered text/plain 500 that voxdeploy_requests_total never saw."""
    response, metrics = run(
        _exchange(RecordingEngine(fail=RuntimeError("bug")), "POST", "/v1/audio/speech", json={"input": "Hi."})
    )
    assert response.status_code == 500 and response.json()["error"]["type"] == "server_error"
    assert 'voxdeploy_requests_total{code="500",engine="recording"} 1.0' in metrics


class BreaksMidStream(RecordingEngine):
    async def stream(self, synthesis: Synthesis) -> AsyncIterator[np.ndarray]:
        yield np.zeros(CHUNK, dtype=np.float32)
        raise RuntimeError("bug after the first chunk")


def test_a_stream_broken_by_an_unhandled_exception_counts_as_500_not_200_or_499() -> None:
    body = {"input": "Hi.", "stream_format": "audio", "response_format": "pcm"}
    app = create_app(RuntimeConfig(), BreaksMidStream())

    async def scenario() -> str:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://runtime") as client:
            # the app returns mid-body (uvicorn would close the connection); httpx's ASGI transport asserts instead
            with contextlib.suppress(AssertionError):
                await client.post("/v1/audio/speech", json=body)
            return (await client.get("/metrics")).text

    assert 'voxdeploy_requests_total{code="500",engine="recording"} 1.0' in run(scenario())


def test_openapi_resolves_and_documents_both_bodies_and_the_streams() -> None:
    """Before, a dangling #/$defs/VoiceRef left schemathesis unable to build speech requests."""
    spec, _ = run(_exchange(RecordingEngine(), "GET", "/openapi.json"))
    document = spec.json()

    def refs(node: object) -> list[str]:
        if isinstance(node, dict):
            return ([node["$ref"]] if "$ref" in node else []) + [r for value in node.values() for r in refs(value)]
        if isinstance(node, list):
            return [r for value in node for r in refs(value)]
        return []

    for ref in refs(document):
        target: object = document
        for part in ref.removeprefix("#/").split("/"):
            assert isinstance(target, dict) and part in target, f"{ref} does not resolve"
            target = target[part]
    speech = document["paths"]["/v1/audio/speech"]["post"]
    assert set(speech["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    media = {fmt.content_type for fmt in encoding.FORMATS.values()} | {"text/event-stream"}
    assert set(speech["responses"]["200"]["content"]) == media
    assert {"400", "408", "413", "429", "431", "500", "503", "504"} <= set(speech["responses"])


def test_a_library_without_a_store_is_read_only_and_says_which_methods_it_takes() -> None:
    async def scenario() -> tuple[httpx.Response, httpx.Response]:
        app = create_app(RuntimeConfig(), RecordingEngine())
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://runtime") as client:
            created = await client.post(
                "/v1/audio/voices", files={"name": (None, "x"), "speaker_description": (None, "A voice")}
            )
            return created, await client.get("/v1/audio/voices")

    created, listing = run(scenario())
    assert created.status_code == 405 and created.headers["Allow"] == "GET, HEAD", created.text
    assert created.json()["error"]["code"] == "read_only" and "voices.store" in created.json()["error"]["message"]
    assert listing.status_code == 200 and listing.json()["voices"] == ["default"]
