"""The llamacpp engine: request translation (pure), then end to end through a real `voxdeploy serve`.

The end-to-end tests run the runtime as a subprocess whose engine command is the stand-in for
llama-tts-server (tests/support/llama_tts_server.py), which reproduces the real server's faults: it
aborts on overlapping requests, so every concurrent test here also proves the runtime serializes.
"""

from __future__ import annotations

import asyncio
import base64
import io
import os
import signal
import sys
import time
import wave
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.support.processes import Served, free_port, is_ready, start_serve, wait_until
from voxdeploy.contracts.runtime import ProcessEngine
from voxdeploy.runtime.engines.base import EngineFailed, EngineRejected, ReferenceAudio, Synthesis
from voxdeploy.runtime.engines.llamacpp import LlamaCppEngine
from voxdeploy.runtime.engines.proxied import upstream_message

FAKE = Path(__file__).resolve().parents[1] / "support" / "llama_tts_server.py"
RATE = 48_000
SECONDS_PER_CHAR = 0.06  # the stand-in's default
FADE = round(0.012 * RATE)  # the engine's crossfade between sentences


def wav(samples: np.ndarray, rate: int = RATE) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def tone(seconds: float, rate: int = RATE) -> np.ndarray:
    return (0.3 * np.sin(2 * np.pi * 220 * np.arange(round(seconds * rate)) / rate)).astype(np.float32)


# -- request translation, no processes -------------------------------------------------------


@pytest.fixture
def engine() -> LlamaCppEngine:
    return LlamaCppEngine(ProcessEngine(kind="llamacpp", command=["llama-tts-server"], port=18080), 30.0)


def test_engine_declares_what_the_server_can_do(engine: LlamaCppEngine) -> None:
    declared = (engine.name, engine.sample_rate, engine.max_concurrency, "speed" in engine.unsupported_fields)
    assert declared == ("llamacpp", RATE, 1, True)


def test_body_carries_the_generation_parameters_and_asks_for_wav(engine: LlamaCppEngine) -> None:
    synthesis = Synthesis(
        "Hello there.",
        voice="alloy",
        seed=7,
        cfg_value=2.5,
        inference_timesteps=12,
        language="en",
        extra_params={"max_steps": 40, "temperature": 0.7},
    )
    assert engine.requests(synthesis) == [
        {
            "model": "voxcpm",
            "input": "Hello there.",
            "response_format": "wav",
            "seed": 7,
            "cfg_value": 2.5,
            "inference_timesteps": 12,
            "max_steps": 40,
            "temperature": 0.7,
        }
    ]


def test_model_is_the_servers_id_whatever_the_runtime_calls_it(engine: LlamaCppEngine) -> None:
    assert engine.settings.model == "openbmb/VoxCPM2"
    assert engine.requests(Synthesis("Hi."))[0]["model"] == "voxcpm"


def test_one_request_per_sentence(engine: LlamaCppEngine) -> None:
    inputs = [body["input"] for body in engine.requests(Synthesis("First one.  Second one! Third, at 3.5 kg?"))]
    assert inputs == ["First one.", "Second one!", "Third, at 3.5 kg?"]


def test_instructions_become_a_description_on_every_sentence(engine: LlamaCppEngine) -> None:
    synthesis = Synthesis("Hello. How are you?", instructions="  A deep, calm male voice ")
    assert [body["input"] for body in engine.requests(synthesis)] == [
        "(A deep, calm male voice)Hello.",
        "(A deep, calm male voice)How are you?",
    ]


def test_a_description_typed_in_the_input_stays_on_every_sentence(engine: LlamaCppEngine) -> None:
    assert [body["input"] for body in engine.requests(Synthesis("(Bright, young)Hello. Goodbye."))] == [
        "(Bright, young)Hello.",
        "(Bright, young)Goodbye.",
    ]


@pytest.mark.parametrize(
    ("synthesis", "param"),
    [
        (Synthesis("Hi.", instructions="warm (very)"), "instructions"),
        (Synthesis("(Calm)Hi.", instructions="warm"), "instructions"),
        (Synthesis("(Calm voice)"), "input"),
        (Synthesis("Hi.", normalize=True), "normalize"),
        (Synthesis("Hi.", denoise=True), "denoise"),
        (Synthesis("Hi.", extra_params={"top_p": 0.9}), "extra_params.top_p"),
        (Synthesis("Hi.", extra_params={"max_steps": 0}), "extra_params.max_steps"),
        (Synthesis("Hi.", extra_params={"max_steps": True}), "extra_params.max_steps"),
        (Synthesis("Hi.", extra_params={"temperature": -1}), "extra_params.temperature"),
        (Synthesis("Hi.", reference=ReferenceAudio(tone(1.0), RATE, wav(tone(1.0)), "the transcript")), "ref_text"),
    ],
)
def test_what_the_server_cannot_honour_is_refused_naming_the_field(
    engine: LlamaCppEngine, synthesis: Synthesis, param: str
) -> None:
    with pytest.raises(EngineRejected) as caught:
        engine.requests(synthesis)
    assert caught.value.param == param and caught.value.status == 400


def test_false_normalize_and_denoise_are_what_the_server_does_anyway(engine: LlamaCppEngine) -> None:
    body = engine.requests(Synthesis("Hi.", normalize=False, denoise=False))[0]
    assert "normalize" not in body and "denoise" not in body


def test_reference_audio_travels_as_base64_wav(engine: LlamaCppEngine) -> None:
    data = wav(tone(1.0))
    body = engine.requests(Synthesis("Hi.", reference=ReferenceAudio(tone(1.0), RATE, data)))[0]
    assert base64.b64decode(body["reference_audio"]) == data
    assert "ref_text" not in body and "prompt_text" not in body


def test_decode_takes_the_servers_wav_and_refuses_anything_else(engine: LlamaCppEngine) -> None:
    samples = engine.decode(wav(tone(0.5)))
    assert samples.dtype == np.float32 and len(samples) == RATE // 2
    for bad in (wav(tone(0.5, 24_000), 24_000), b"", np.zeros(8, "<f4").tobytes()):
        with pytest.raises(EngineFailed):
            engine.decode(bad)


def test_upstream_500s_are_engine_failures_with_their_message(engine: LlamaCppEngine) -> None:
    message, param = upstream_message(b'{"error":{"message":"max_steps must be positive","type":"server_error"}}')
    err = engine.rejected(500, message, param)
    assert isinstance(err, EngineFailed) and err.status == 502 and "max_steps must be positive" in err.message
    assert upstream_message(b"") == ("empty response body", None)


def test_upstream_calls_never_overlap_even_when_a_caller_gives_up(engine: LlamaCppEngine) -> None:
    """A cancelled request's upstream call keeps the lock until the server has answered it."""
    events: list[tuple[str, str]] = []
    active = {"now": 0, "most": 0}

    async def post(body: dict[str, object]) -> bytes:
        active["now"] += 1
        active["most"] = max(active["most"], active["now"])
        events.append(("start", str(body["input"])))
        await asyncio.sleep(0.05)
        events.append(("end", str(body["input"])))
        active["now"] -= 1
        return wav(tone(0.1))

    engine.post = post  # type: ignore[method-assign]

    async def consume(text: str) -> int:
        return sum([len(chunk) async for chunk in engine.stream(Synthesis(text))])

    async def scenario() -> list[object]:
        doomed = asyncio.create_task(consume("Abandoned. Never finished."))
        others = [asyncio.create_task(consume(f"Sentence {n}. And more.")) for n in range(3)]
        await asyncio.sleep(0.02)
        doomed.cancel()
        return await asyncio.gather(doomed, *others, return_exceptions=True)

    results = asyncio.run(scenario())
    assert isinstance(results[0], asyncio.CancelledError)
    assert all(result == round(0.2 * RATE) - FADE for result in results[1:])
    assert active["most"] == 1
    assert events[:2] == [("start", "Abandoned."), ("end", "Abandoned.")]  # finished although its caller left
    assert ("start", "Never finished.") not in events


# -- end to end: voxdeploy serve -> llama-tts-server stand-in --------------------------------


@dataclass
class LlamaServed:
    """`voxdeploy serve --engine llamacpp` over the stand-in, plus the stand-in's test hook."""

    runtime: Served
    engine_url: str
    fake_pids: set[int] = field(default_factory=set)

    @property
    def url(self) -> str:
        return self.runtime.url

    def fake(self) -> dict:
        """The stand-in's pid and the requests it received (GET /debug/last)."""
        state = httpx.get(self.engine_url + "/debug/last", timeout=5).json()
        self.fake_pids.add(state["pid"])
        return state

    def speech(self, timeout: float = 20, **fields: object) -> httpx.Response:
        return httpx.post(self.url + "/v1/audio/speech", json=fields, timeout=timeout)

    def wait_ready(self, timeout: float) -> None:
        wait_until(lambda: is_ready(self.url), timeout, f"the runtime to be ready:\n{self.runtime.output()[-3000:]}")


def _is_fake(pid: int) -> bool:
    try:
        return FAKE.name.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServed]:
    engine_port = free_port()
    runtime = start_serve(
        [
            "--engine",
            "llamacpp",
            "--engine-port",
            str(engine_port),
            "--engine-command",
            sys.executable,
            str(FAKE),
            "--voxcpm2-base-lm",
            "a",
            "--voxcpm2-acoustic",
            "b",
            "--port",
            str(engine_port),
        ],
        tmp_path_factory.mktemp("llamacpp") / "serve.log",
        timeout=20,
    )
    server = LlamaServed(runtime, f"http://127.0.0.1:{engine_port}")
    try:
        server.fake()
        yield server
    finally:
        runtime.stop()  # SIGTERM: the runtime stops its child; then make sure, by pid, that none is left
        for pid in server.fake_pids:
            if _is_fake(pid):
                os.kill(pid, signal.SIGKILL)


def wav_info(data: bytes) -> tuple[int, int, int, int]:
    with wave.open(io.BytesIO(data)) as reader:
        return reader.getframerate(), reader.getnchannels(), reader.getsampwidth(), reader.getnframes()


def test_speech_is_a_48khz_wav_that_grows_with_the_text(served: LlamaServed) -> None:
    lengths = {}
    for text in ("Short one.", "A considerably longer sentence than the first one."):
        response = served.speech(input=text, response_format="wav", stream=False, sample_rate=RATE)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "audio/wav"
        rate, channels, width, frames = wav_info(response.content)
        assert (rate, channels, width) == (RATE, 1, 2)
        assert frames == round(len(text) * SECONDS_PER_CHAR * RATE)
        lengths[text] = frames
    short, long = lengths.values()
    assert long > short
    last = served.fake()["last"]
    assert last["model"] == "voxcpm" and last["response_format"] == "wav"


def test_concurrent_requests_are_serialized_so_the_server_never_aborts(served: LlamaServed) -> None:
    before = served.fake()

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=served.url, timeout=20) as client:
            return await asyncio.gather(
                *[client.post("/v1/audio/speech", json={"input": f"Request number {n}."}) for n in range(4)]
            )

    responses = asyncio.run(burst())
    assert [r.status_code for r in responses] == [200] * 4, [r.text for r in responses]
    after = served.fake()
    assert after["pid"] == before["pid"]  # the stand-in aborts on any overlap: same process, no restart
    assert after["requests"] == before["requests"] + 4


def test_instructions_reach_the_server_as_a_voice_description(served: LlamaServed) -> None:
    response = served.speech(input="Hello there. Nice to meet you.", instructions="A deep, calm voice")
    assert response.status_code == 200, response.text
    assert served.fake()["inputs"][-2:] == ["(A deep, calm voice)Hello there.", "(A deep, calm voice)Nice to meet you."]


def test_reference_audio_reaches_the_server(served: LlamaServed) -> None:
    reference = base64.b64encode(wav(tone(1.0))).decode()
    response = served.speech(input="Clone me.", ref_audio=reference)
    assert response.status_code == 200, response.text
    assert served.fake()["last"]["reference_audio"].endswith("base64 chars>")


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"speed": 1.5}, "speed"),
        ({"normalize": True}, "normalize"),
        ({"ref_audio": base64.b64encode(wav(tone(1.0))).decode(), "ref_text": "what was said"}, "ref_text"),
    ],
)
def test_unsupported_fields_get_400_naming_them(served: LlamaServed, fields: dict, param: str) -> None:
    before = served.fake()["requests"]
    response = served.speech(input="Hello.", **fields)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param and param in error["message"]
    assert served.fake()["requests"] == before  # refused before anything was sent upstream


def test_streaming_pcm_arrives_sentence_by_sentence(served: LlamaServed) -> None:
    sentences = [
        "This is the first sentence of a longer answer to stream.",
        "Here is the second sentence that follows right after it.",
        "And the third sentence closes the whole paragraph nicely.",
    ]
    arrivals, data = [], bytearray()
    started = time.monotonic()
    body = {"input": " ".join(sentences), "stream_format": "audio", "response_format": "pcm", "sample_rate": RATE}
    with httpx.stream("POST", served.url + "/v1/audio/speech", json=body, timeout=20) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "audio/pcm"
        for chunk in response.iter_bytes():
            arrivals.append(time.monotonic() - started)
            data += chunk
    assert served.fake()["inputs"][-3:] == sentences
    expected = sum(round(len(s) * SECONDS_PER_CHAR * RATE) for s in sentences) - 2 * FADE  # crossfaded joins
    assert len(data) == 2 * expected  # 16-bit PCM, OpenAI's pcm
    assert len(arrivals) >= 3
    # Each sentence takes 0.05 x 3.4 s to make: the first audio came well before the last.
    assert arrivals[-1] - arrivals[0] > 0.2


def test_a_client_leaving_mid_generation_does_not_make_the_next_request_overlap(served: LlamaServed) -> None:
    """llama-tts-server keeps generating after the connection closes; the next call must wait for it."""
    served.wait_ready(10)
    before = served.fake()
    with pytest.raises(httpx.ReadTimeout):
        served.speech(input="word " * 40, timeout=0.3)  # 12 s of audio, 0.6 s to make: the client leaves first
    response = served.speech(input="Right after.")
    assert response.status_code == 200, response.text
    after = served.fake()
    assert after["pid"] == before["pid"] and after["requests"] == before["requests"] + 2


def test_a_dead_server_gives_503_then_is_restarted(served: LlamaServed) -> None:
    served.wait_ready(10)
    before = served.fake()
    text = "word " * 55  # one 275-character sentence: 16.5 s of audio, 0.8 s to make

    def generating() -> bool:
        return served.fake()["requests"] > before["requests"]

    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(served.speech, input=text)
        deadline = time.monotonic() + 5
        while not generating() and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(before["pid"], signal.SIGKILL)
        in_flight = pending.result()
    assert in_flight.status_code == 503, in_flight.text
    assert int(in_flight.headers["retry-after"]) >= 1
    assert in_flight.json()["error"]["type"] == "engine_unavailable"
    assert "died during the request" in in_flight.json()["error"]["message"]

    ready = httpx.get(served.url + "/ready", timeout=5)
    assert ready.status_code == 503
    refused = served.speech(input="Anyone there?")
    assert refused.status_code == 503 and "retry-after" in refused.headers

    served.wait_ready(15)
    response = served.speech(input="Back again.")
    assert response.status_code == 200, response.text
    assert served.fake()["pid"] != before["pid"]
    metrics = httpx.get(served.url + "/metrics", timeout=5).text
    restarts = [line for line in metrics.splitlines() if "restart" in line and not line.startswith("#")]
    assert restarts and float(restarts[0].split()[-1]) >= 1, restarts
