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
import threading
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
import yaml
from openai import OpenAI

from tests.support.processes import Served, free_port, start_serve, wait_until
from voxdeploy.contracts.api import FALLBACKS_HEADER, TIER_HEADER
from voxdeploy.contracts.metrics import ROUTER_METRICS
from voxdeploy.runtime.audio import encode

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


class Launcher:
    """Runtimes and routers for a test or a module, all stopped by PID at the end, whatever happened."""

    def __init__(self, where: Path) -> None:
        self.where = where
        self.started: list[Served] = []
        self.settings = where / "router.yaml"
        self.settings.write_text(yaml.safe_dump(ROUTER_SETTINGS))

    def runtime(self, *args: str, port: int | None = None) -> Served:
        """A runtime, not waited for: the router's checks notice when it is ready."""
        served = start_serve(list(args), self._log("runtime"), port=port, wait_ready=False)
        self.started.append(served)
        return served

    def router(self, tiers: dict[str, Served | str], wait: bool = True) -> Served:
        """A router over these tiers; with `wait`, once it sees every one of them ready."""
        urls = {tier: target if isinstance(target, str) else target.url for tier, target in tiers.items()}
        flags = [arg for tier, url in urls.items() for arg in ("--tier", f"{tier}={url}")]
        router = start_serve(
            ["--router", "--config", str(self.settings), *flags], self._log("router"), wait_ready=False
        )
        process = router.process
        self.started.append(router)
        if wait:
            wait_until(lambda: sees(router, set(urls.values())) or process.poll() is not None, 30, "the tiers")
            assert process.poll() is None, router.output()
        return router

    def _log(self, kind: str) -> Path:
        return self.where / f"{kind}-{len(self.started)}.log"

    def stop_all(self) -> None:
        for served in self.started:
            served.stop(signal.SIGKILL, timeout=5)


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


def speak(router: Served, body: dict, headers: dict[str, str] | None = None, timeout: float = 30) -> httpx.Response:
    return httpx.post(router.url + SPEECH, json=body, headers=headers or {}, timeout=timeout)


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
        model="openbmb/VoxCPM2", voice="default", input=EDGE_TEXT, response_format="wav", extra_headers=URGENT
    )
    assert response.headers[TIER_HEADER] == "edge"
    with wave.open(io.BytesIO(response.content)) as audio:
        assert audio.getframerate() == 48000 and audio.getnframes() > 0


def test_a_streaming_request_streams_through_the_router(tiers: Tiers) -> None:
    body = {"input": CLOUD_TEXT, "response_format": "pcm", "stream_format": "audio"}
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
    response = speak(tiers.router, {"input": EDGE_TEXT, "sample_rate": 16000}, URGENT)
    assert landed(response) == (400, "edge", "0") and response.json()["error"]["param"] == "sample_rate"
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
        httpx.post(tiers.router.url + SPEECH, json={"input": CLOUD_TEXT}, timeout=httpx.Timeout(5, read=0.3))
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
    router = launch.router(nowhere, wait=False)  # type: ignore[arg-type]
    wait_until(lambda: _status(router.url + "/health") == 200, 30, "the router to start")
    assert _status(router.url + "/ready") == 503
    response = speak(router, {"input": EDGE_TEXT}, URGENT)
    assert response.status_code == 503 and int(response.headers["Retry-After"]) >= 1
    error = response.json()["error"]
    assert [(a["tier"], a["outcome"]) for a in error["attempts"]] == [
        ("edge", "no endpoint ready"),
        ("cloud", "no endpoint ready"),
    ]


def test_sigterm_lets_in_flight_requests_finish_then_exits_0(tiers: Tiers, launch: Launcher) -> None:
    router = launch.router({"cloud": tiers.cloud})
    results: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: results.append(speak(router, {"input": CLOUD_TEXT})))
    thread.start()
    wait_until(lambda: _in_flight(tiers.cloud) == 1, 5, "the request to reach the cloud")
    os.killpg(router.process.pid, signal.SIGTERM)
    time.sleep(0.2)
    with pytest.raises(httpx.ConnectError):
        speak(router, {"input": "Too late."}, timeout=2)
    thread.join()
    assert landed(results[0]) == (200, "cloud", "0") and len(results[0].content) > 48000
    assert router.process.wait(10) == 0


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
