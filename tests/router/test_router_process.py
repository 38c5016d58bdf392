"""The router as a real process on 127.0.0.1 in front of sim runtimes acting as edge, fog and cloud tiers.

Each runtime is a `voxdeploy serve --engine sim` process; the tier a request reached is read both from
the router's X-Voxdeploy-Tier header and from the runtimes' own request counters.
"""

from __future__ import annotations

import asyncio
import base64
import io
import os
import signal
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
import yaml
from openai import OpenAI

from tests.support import speech_tier
from tests.support.processes import Served, free_port, start_serve, wait_until
from voxdeploy.contracts.api import FALLBACKS_HEADER, TIER_HEADER
from voxdeploy.contracts.metrics import ROUTER_METRICS
from voxdeploy.runtime.encoding import encode

SPEECH = "/v1/audio/speech"
URGENT = {"X-Latency-Budget-Ms": "200"}
HIGH = {"X-Quality": "high"}
FAST = ("--engine", "sim", "--sim-first-audio", "0.02")
EDGE, FOG, CLOUD = (*FAST, "--sim-rtf", "0.05"), (*FAST, "--sim-rtf", "0.1"), (*FAST, "--sim-rtf", "0.2")
ROUTER_SETTINGS = {
    # small thresholds keep the texts (and so the simulated synthesis) short
    "policy": {"edgeMaxChars": 30, "fogMaxChars": 60},
    "health": {"intervalSeconds": 0.2, "timeoutSeconds": 0.5, "ejectAfterFailures": 2, "ejectionSeconds": 1.0},
}
EDGE_TEXT = "Hello there."  # < 30: edge when urgent, else fog
FOG_TEXT = "A sentence for the fog tier, forty chars."  # 30..59: fog even when urgent
CLOUD_TEXT = "A sentence long enough for the cloud tier, sixty characters or more."


Target = Served | str


class Launcher:
    """Runtimes, stand-in tiers and routers for a test or a module, all stopped by PID at the end, whatever
    happened."""

    def __init__(self, where: Path) -> None:
        self.where = where
        self.started: list[Served] = []

    def runtime(self, *args: str, port: int | None = None) -> Served:
        """A runtime, not waited for: the router's checks notice when it is ready."""
        served = start_serve(list(args), self._log("runtime"), port=port, wait_ready=False)
        self.started.append(served)
        return served

    def stand_in(self, fail_marker: str) -> Served:
        """A stand-in tier (tests/support/speech_tier.py) that answers 500 to a request holding `fail_marker`."""
        port, log = free_port(), self._log("stand-in")
        with log.open("wb") as handle:
            process = subprocess.Popen(
                [sys.executable, str(Path(speech_tier.__file__)), "--port", str(port), "--fail-marker", fail_marker],
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        served = Served(process, port, log)
        self.started.append(served)
        return served

    def router(
        self, tiers: Mapping[str, Target | Sequence[Target]], wait: bool = True, settings: dict | None = None
    ) -> Served:
        """A router over these tiers (one endpoint or a list each), with ROUTER_SETTINGS updated by `settings`;
        with `wait`, once it sees every endpoint ready."""
        urls = {tier: [_url(t) for t in _listed(target)] for tier, target in tiers.items()}
        flags = [arg for tier, listed in urls.items() for url in listed for arg in ("--tier", f"{tier}={url}")]
        path = self.where / f"router-{len(self.started)}.yaml"
        path.write_text(yaml.safe_dump(_merged(ROUTER_SETTINGS, settings or {})))
        router = start_serve(["--router", "--config", str(path), *flags], self._log("router"), wait_ready=False)
        process = router.process
        self.started.append(router)
        if wait:
            every = {url for listed in urls.values() for url in listed}
            wait_until(lambda: sees(router, every) or process.poll() is not None, 30, "the tiers")
            assert process.poll() is None, router.output()
        return router

    def _log(self, kind: str) -> Path:
        return self.where / f"{kind}-{len(self.started)}.log"

    def stop_all(self) -> None:
        for served in self.started:
            served.stop(signal.SIGKILL, timeout=5)


def _listed(target: Target | Sequence[Target]) -> Sequence[Target]:
    return [target] if isinstance(target, Served | str) else target


def _url(target: Target) -> str:
    return target if isinstance(target, str) else target.url


def _merged(base: dict, over: dict) -> dict:
    """`base` with `over`'s keys replacing its own, sections merged key by key."""
    merged = dict(base)
    for key, value in over.items():
        merged[key] = _merged(base[key], value) if isinstance(value, dict) and key in base else value
    return merged


@dataclass
class Tiers:
    edge: Served
    fog: Served
    cloud: Served
    router: Served


@pytest.fixture(scope="module")
def tiers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tiers]:
    """Edge, fog and cloud runtimes behind one router, shared by the tests that leave them as they found them."""
    launcher = Launcher(tmp_path_factory.mktemp("tiers"))
    try:
        edge, fog, cloud = launcher.runtime(*EDGE), launcher.runtime(*FOG), launcher.runtime(*CLOUD)
        yield Tiers(edge, fog, cloud, launcher.router({"edge": edge, "fog": fog, "cloud": cloud}))
    finally:
        launcher.stop_all()


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Launcher]:
    launcher = Launcher(tmp_path)
    try:
        yield launcher
    finally:
        launcher.stop_all()


def sees(router: Served, ready: set[str]) -> bool:
    """Whether the router's /ready lists exactly these endpoints as ready."""
    try:
        endpoints = httpx.get(router.url + "/ready", timeout=1).json()["endpoints"]
    except (httpx.HTTPError, ValueError, KeyError):
        return False
    return {e["url"] for e in endpoints if e["ready"]} == ready


def served_count(runtime: Served, code: str = "200") -> float:
    prefix = f'voxdeploy_requests_total{{code="{code}",engine="sim"}} '
    lines = [line for line in httpx.get(runtime.url + "/metrics").text.splitlines() if line.startswith(prefix)]
    return float(lines[0].removeprefix(prefix)) if lines else 0.0


WHOLE_WAV = {"response_format": "wav", "stream": False, "sample_rate": 48000}
"""What these tests read back (`wave` needs a header with the length, which only an answer sent whole has)."""


def speak(router: Served, body: dict, headers: dict[str, str] | None = None, timeout: float = 30) -> httpx.Response:
    return httpx.post(router.url + SPEECH, json=WHOLE_WAV | body, headers=headers or {}, timeout=timeout)


def landed(response: httpx.Response) -> tuple[int, str | None, str | None]:
    return response.status_code, response.headers.get(TIER_HEADER), response.headers.get(FALLBACKS_HEADER)


def reference_wav() -> str:
    tone = np.sin(np.linspace(0, 2 * np.pi * 220, 16000)).astype(np.float32) * 0.3
    return base64.b64encode(encode(tone, 16000, "wav")).decode("ascii")


def test_requests_land_where_the_policy_says(tiers: Tiers) -> None:
    cases = [
        ({"input": EDGE_TEXT}, URGENT, "edge"),
        ({"input": EDGE_TEXT}, {}, "fog"),  # short but in no hurry
        ({"input": FOG_TEXT}, URGENT, "fog"),  # in a hurry but too long for the edge
        ({"input": EDGE_TEXT, "instructions": "a calm old man"}, {}, "cloud"),
        ({"input": "(A calm old man)" + EDGE_TEXT}, {}, "cloud"),
        ({"input": EDGE_TEXT, "ref_audio": reference_wav()}, {}, "cloud"),
        ({"input": EDGE_TEXT}, HIGH, "cloud"),
        ({"input": CLOUD_TEXT}, {}, "cloud"),
        ({"input": EDGE_TEXT, "voice": "nova"}, {}, "fog"),  # OpenAI's name for the model's own voice
    ]
    runtimes = {"edge": tiers.edge, "fog": tiers.fog, "cloud": tiers.cloud}
    before = {tier: served_count(runtime) for tier, runtime in runtimes.items()}
    for body, headers, tier in cases:
        response = speak(tiers.router, body, headers)
        assert landed(response) == (200, tier, "0"), (body, headers, response.text)
        with wave.open(io.BytesIO(response.content)) as audio:
            assert audio.getnframes() > 0
    expected = {tier: sum(1 for *_, t in cases if t == tier) for tier in runtimes}
    assert {tier: served_count(runtime) - before[tier] for tier, runtime in runtimes.items()} == expected


def test_the_openai_client_works_through_the_router(tiers: Tiers) -> None:
    client = OpenAI(base_url=tiers.router.url + "/v1", api_key="unused")
    response = client.audio.speech.with_raw_response.create(
        model="openbmb/VoxCPM2",
        voice="default",
        input=EDGE_TEXT,
        response_format="wav",
        extra_headers=URGENT,
        extra_body=WHOLE_WAV,
    )
    assert response.headers[TIER_HEADER] == "edge"
    with wave.open(io.BytesIO(response.content)) as audio:
        assert audio.getframerate() == 48000 and audio.getnframes() > 0


def test_a_streaming_request_streams_through_the_router(tiers: Tiers) -> None:
    body = {"input": CLOUD_TEXT, "response_format": "pcm", "stream_format": "audio", "sample_rate": 48000}
    arrivals, size = [], 0
    start = time.perf_counter()
    with httpx.stream("POST", tiers.router.url + SPEECH, json=body, timeout=30) as response:
        assert landed(response) == (200, "cloud", "0")
        for chunk in response.iter_raw():
            arrivals.append(time.perf_counter() - start)
            size += len(chunk)
    assert size / 2 / 48000 > 4, "about five seconds of 48 kHz 16-bit audio, made in about one"
    assert len(arrivals) >= 4 and arrivals[0] < 0.5 * arrivals[-1], arrivals


def test_bad_input_is_refused_by_the_router_itself(tiers: Tiers) -> None:
    before = [served_count(r, code) for r in (tiers.edge, tiers.fog, tiers.cloud) for code in ("200", "400")]
    cases = [
        ({"voice": "default"}, {}, "input"),
        ({"input": "Hi", "speed": 9}, {}, "speed"),
        ({"input": "Hi", "ref_audio": "not base64!"}, {}, "ref_audio"),
        ({"input": "Hi"}, {"X-Latency-Budget-Ms": "soon"}, "X-Latency-Budget-Ms"),
        ({"input": "Hi"}, {"X-Quality": "best"}, "X-Quality"),
    ]
    for body, headers, param in cases:
        response = speak(tiers.router, body, headers)
        assert response.status_code == 400 and TIER_HEADER not in response.headers, response.text
        assert response.json()["error"]["param"] == param
    not_json = httpx.post(tiers.router.url + SPEECH, content=b"input=Hi", headers={"content-type": "text/plain"})
    assert not_json.status_code == 415
    assert [served_count(r, code) for r in (tiers.edge, tiers.fog, tiers.cloud) for code in ("200", "400")] == before


def test_a_tiers_own_refusal_is_relayed_not_retried(tiers: Tiers) -> None:
    before = served_count(tiers.edge, "400") + served_count(tiers.fog, "400") + served_count(tiers.cloud, "400")
    # the router knows which voices are library voices (they go to the cloud), not which exist there
    response = speak(tiers.router, {"input": EDGE_TEXT, "voice": "zed"})
    assert landed(response) == (400, "cloud", "0") and response.json()["error"]["param"] == "voice"
    after = served_count(tiers.edge, "400") + served_count(tiers.fog, "400") + served_count(tiers.cloud, "400")
    assert after - before == 1


def test_router_endpoints_and_every_router_series(tiers: Tiers) -> None:
    assert speak(tiers.router, {"input": EDGE_TEXT}, URGENT).status_code == 200
    assert httpx.get(tiers.router.url + "/health").json() == {"status": "ok"}
    assert httpx.get(tiers.router.url + "/v1/models").json()["data"][0]["tiers"] == ["edge", "fog", "cloud"]
    text = httpx.get(tiers.router.url + "/metrics").text
    exported = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    for metric in ROUTER_METRICS:
        if metric.name.endswith("fallbacks"):
            continue  # no fallback has happened on this router (the other tests check the series)
        assert set(metric.series) <= exported, metric.name
    for tier, runtime in (("edge", tiers.edge), ("fog", tiers.fog), ("cloud", tiers.cloud)):
        assert f'voxdeploy_router_endpoint_healthy{{endpoint="{runtime.url}",tier="{tier}"}} 1.0' in text


def test_a_client_that_leaves_cancels_the_upstream_synthesis(tiers: Tiers) -> None:
    cancelled = served_count(tiers.cloud, "499")
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            tiers.router.url + SPEECH, json=WHOLE_WAV | {"input": CLOUD_TEXT}, timeout=httpx.Timeout(5, read=0.3)
        )
    wait_until(lambda: served_count(tiers.cloud, "499") == cancelled + 1, 5, "the cloud to cancel")
    assert _in_flight(tiers.cloud) == 0


def test_edge_down_falls_back_to_cloud_then_traffic_returns(tiers: Tiers, launch: Launcher) -> None:
    edge = launch.runtime(*EDGE)
    router = launch.router({"edge": edge, "cloud": tiers.cloud})
    assert landed(speak(router, {"input": EDGE_TEXT}, URGENT)) == (200, "edge", "0")
    edge.stop(signal.SIGKILL)
    for _ in range(4):
        assert landed(speak(router, {"input": EDGE_TEXT}, URGENT)) == (200, "cloud", "1")
    wait_until(lambda: sees(router, {tiers.cloud.url}), 5, "the router to see the edge gone")
    metrics = httpx.get(router.url + "/metrics").text
    assert 'voxdeploy_router_fallbacks_total{from_tier="edge",to_tier="cloud"} 4.0' in metrics
    assert 'voxdeploy_router_requests_total{code="200",tier="cloud"} 4.0' in metrics

    back = launch.runtime(*EDGE, port=edge.port)
    wait_until(lambda: sees(router, {back.url, tiers.cloud.url}), 15, "the edge to be back")
    assert landed(speak(router, {"input": EDGE_TEXT}, URGENT)) == (200, "edge", "0")
    assert served_count(back) == 1


def test_a_saturated_cloud_falls_back_instead_of_failing(tiers: Tiers, launch: Launcher) -> None:
    cloud = launch.runtime(*CLOUD, "--max-concurrent", "1", "--max-queue", "0")
    router = launch.router({"edge": tiers.edge, "fog": tiers.fog, "cloud": cloud})

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=router.url, timeout=30) as client:
            return await asyncio.gather(*(client.post(SPEECH, json={"input": CLOUD_TEXT}) for _ in range(4)))

    results = sorted(landed(response) for response in asyncio.run(burst()))
    assert all(code == 200 for code, *_ in results), results
    assert (200, "cloud", "0") in results and (200, "fog", "1") in results, results
    assert served_count(cloud, "429") >= 1
    assert landed(speak(router, {"input": EDGE_TEXT}, HIGH)) == (200, "cloud", "0"), "a 429 does not eject"


def test_with_every_tier_down_the_router_answers_503_with_retry_after(launch: Launcher) -> None:
    nowhere = {tier: f"http://127.0.0.1:{free_port()}" for tier in ("edge", "cloud")}
    router = launch.router(nowhere, wait=False)
    wait_until(lambda: _status(router.url + "/health") == 200, 30, "the router to start")
    assert _status(router.url + "/ready") == 503
    response = speak(router, {"input": EDGE_TEXT}, URGENT)
    assert response.status_code == 503 and int(response.headers["Retry-After"]) >= 1
    error = response.json()["error"]
    assert [(a["tier"], a["outcome"]) for a in error["attempts"]] == [
        ("edge", "no endpoint ready"),
        ("cloud", "no endpoint ready"),
    ]


POISON = "poison-pill"
"""Stand-in tiers answer 500 to a request holding this, as every runtime answered a lone surrogate in `voice`."""


def test_requests_that_every_tier_fails_eject_no_endpoint(launch: Launcher) -> None:
    """Reproduced: with three failures ejecting, six such requests ejected all four endpoints for 30 s and the
    next good request got 503. A 5xx the same request gets everywhere is the request's fault."""
    edge, cloud = [launch.stand_in(POISON) for _ in range(2)], [launch.stand_in(POISON) for _ in range(2)]
    outlier = {"health": {"ejectAfterFailures": 3, "ejectionSeconds": 30.0}}
    router = launch.router({"edge": edge, "cloud": cloud}, settings=outlier)
    for _ in range(6):
        response = speak(router, {"input": f"Hello {POISON}."}, URGENT)
        assert response.status_code == 503, response.text
        error = response.json()["error"]
        assert (
            error["attempts"]
            == [{"tier": "edge", "outcome": "HTTP 500"}] * 2 + [{"tier": "cloud", "outcome": "HTTP 500"}] * 2
        )
        assert "edge: HTTP 500" in error["message"] and "127.0.0.1" not in response.text, "no internal URLs"
    assert sees(router, {s.url for s in edge + cloud}), "every endpoint still gets traffic"
    assert landed(speak(router, {"input": EDGE_TEXT}, URGENT)) == (200, "edge", "0")
    assert landed(speak(router, {"input": CLOUD_TEXT})) == (200, "cloud", "0")


def test_a_hung_tier_loses_its_request_to_the_next_and_a_busy_one_keeps_it(tiers: Tiers, launch: Launcher) -> None:
    """Reproduced: a SIGSTOPped edge held a request for the edge's whole 30 s timeout before it fell back. Now
    the request moves on once the edge has answered nothing, health checks included, for the first-byte
    timeout; an edge that answers its checks while it synthesizes for longer than that keeps the request."""
    first_byte = 1.5
    edge = launch.runtime(*FAST, "--sim-rtf", "3")  # "Hello there." takes ~2.5 s, past the first-byte timeout
    router = launch.router({"edge": edge, "cloud": tiers.cloud}, settings={"firstByteTimeoutSeconds": first_byte})
    start = time.perf_counter()
    assert landed(speak(router, {"input": EDGE_TEXT}, URGENT)) == (200, "edge", "0"), "busy, not hung"
    assert time.perf_counter() - start > first_byte

    results: list[tuple[httpx.Response, float]] = []

    def call() -> None:
        began = time.perf_counter()
        results.append((speak(router, {"input": EDGE_TEXT}, URGENT), time.perf_counter() - began))

    thread = threading.Thread(target=call)
    try:
        thread.start()
        wait_until(lambda: _in_flight(edge) == 1, 5, "the request to reach the edge")
        os.killpg(edge.process.pid, signal.SIGSTOP)
        stopped = time.perf_counter()
        thread.join(30)
        (response, _), waited = results[0], time.perf_counter() - stopped
        assert landed(response) == (200, "cloud", "1") and waited < first_byte + 1.5, waited
        start = time.perf_counter()
        assert landed(speak(router, {"input": EDGE_TEXT}, URGENT)) == (200, "cloud", "1")
        assert time.perf_counter() - start < 1.0, "the hung edge gets no new requests"
        assert "answered nothing, health checks included" in router.output()
    finally:
        os.killpg(edge.process.pid, signal.SIGCONT)
        thread.join(30)
    wait_until(lambda: sees(router, {edge.url, tiers.cloud.url}), 10, "the edge to be back")
    metrics = httpx.get(router.url + "/metrics").text
    assert 'voxdeploy_router_fallbacks_total{from_tier="edge",to_tier="cloud"} 2.0' in metrics


def test_a_tier_that_hangs_mid_stream_breaks_the_stream_after_the_first_byte_timeout(launch: Launcher) -> None:
    """Audio already went out, so no other tier can take over; the caller learns it in seconds, not after the
    tier's timeout (cloud: 300 s), and the hung endpoint gets no new requests."""
    first_byte = 1.5
    cloud = launch.runtime(*FAST, "--sim-rtf", "2")  # streams CLOUD_TEXT's ~5 s of audio over ~10 s
    router = launch.router({"cloud": cloud}, settings={"firstByteTimeoutSeconds": first_byte})
    body = {"input": CLOUD_TEXT, "response_format": "pcm", "stream_format": "audio"}
    try:
        with httpx.stream("POST", router.url + SPEECH, json=body, timeout=20) as response:
            assert landed(response) == (200, "cloud", "0")
            chunks = response.iter_raw()
            next(chunks)
            os.killpg(cloud.process.pid, signal.SIGSTOP)
            stopped = time.perf_counter()
            with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
                for _ in chunks:
                    pass
            assert time.perf_counter() - stopped < first_byte + 1.5
        assert not sees(router, {cloud.url}), "taken out until it answers a check again"
    finally:
        os.killpg(cloud.process.pid, signal.SIGCONT)
    wait_until(lambda: sees(router, {cloud.url}), 10, "the cloud to be back")
    assert 'voxdeploy_router_requests_total{code="502",tier="cloud"} 1.0' in httpx.get(router.url + "/metrics").text


def test_sigterm_turns_ready_off_serves_through_the_drain_delay_then_exits_0(tiers: Tiers, launch: Launcher) -> None:
    """Endpoint removal reaches proxies a moment after SIGTERM: until the drain delay ends, /ready says 503 and
    requests that still arrive are served, not refused; then in-flight ones finish and the router exits 0."""
    router = launch.router({"cloud": tiers.cloud})
    results: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: results.append(speak(router, {"input": CLOUD_TEXT})))
    thread.start()
    wait_until(lambda: _in_flight(tiers.cloud) == 1, 5, "the request to reach the cloud")
    os.killpg(router.process.pid, signal.SIGTERM)
    wait_until(lambda: _status(router.url + "/ready") == 503, 3, "/ready to turn 503")
    assert landed(speak(router, {"input": "Still in time."}, timeout=30))[0] == 200
    thread.join()
    assert landed(results[0]) == (200, "cloud", "0") and len(results[0].content) > 48000
    assert router.process.wait(20) == 0


def _status(url: str) -> int:
    try:
        return httpx.get(url, timeout=1).status_code
    except httpx.HTTPError:
        return 0


def _in_flight(runtime: Served) -> float:
    for line in httpx.get(runtime.url + "/metrics").text.splitlines():
        if line.startswith("voxdeploy_requests_in_flight{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
