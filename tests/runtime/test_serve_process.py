"""`voxdeploy serve` as a real process on 127.0.0.1, driven by the official `openai` client and httpx."""

from __future__ import annotations

import io
import os
import signal
import sys
import threading
import time
import wave

import httpx
import pytest
from openai import OpenAI

from tests.support.processes import free_port, is_ready, wait_until
from voxdeploy.contracts.metrics import (
    AUTH_METRICS,
    CATALOGUE,
    ENGINE_METRICS_UP,
    GPU_MEMORY_USED,
    ROUTER_METRICS,
)

SPEECH = "/v1/audio/speech"


WHOLE_WAV = {"response_format": "wav", "stream": False}
"""A WAV sent once made, whose header holds its length (a streamed one's says unknown, which `wave` cannot read)."""


def wav_duration(data: bytes, rate: int = 24000) -> float:
    with wave.open(io.BytesIO(data)) as reader:
        assert reader.getframerate() == rate and reader.getnchannels() == 1 and reader.getsampwidth() == 2
        return reader.getnframes() / reader.getframerate()


def metric_value(url: str, series: str) -> float:
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line.startswith(series + "{") or line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{series} not exported")


def test_openai_client_gets_wav_that_grows_with_the_text(sim_server) -> None:
    client = OpenAI(base_url=sim_server.url + "/v1", api_key="x")
    durations = []
    for text in ("Hello there.", "Hello there. This sentence is quite a lot longer than the first one was."):
        response = client.audio.speech.create(
            model="openbmb/VoxCPM2", voice="default", input=text, response_format="wav", extra_body={"stream": False}
        )
        durations.append(wav_duration(response.content))
    assert 0 < durations[0] < durations[1]


def test_openai_client_streams_audio_as_it_is_made(sim_server) -> None:
    client = OpenAI(base_url=sim_server.url + "/v1", api_key="x")
    text = " ".join(["This is a long sentence for streaming."] * 6)
    arrivals, size = [], 0
    start = time.perf_counter()
    with client.audio.speech.with_streaming_response.create(
        model="openbmb/VoxCPM2", voice="default", input=text, response_format="pcm", stream_format="audio"
    ) as response:
        for chunk in response.iter_bytes(4096):
            arrivals.append(time.perf_counter() - start)
            size += len(chunk)
    audio_seconds = size / 2 / 24000  # OpenAI's pcm rate
    assert audio_seconds > 10
    assert arrivals[0] < 0.5 * arrivals[-1], (arrivals[0], arrivals[-1])
    assert metric_value(sim_server.url, "voxdeploy_time_to_first_audio_seconds_count") >= 1


def test_every_catalogued_series_is_exported(sim_server) -> None:
    httpx.post(sim_server.url + SPEECH, json={"input": "Count me."}, timeout=30).raise_for_status()
    text = httpx.get(sim_server.url + "/metrics").text
    exported = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    for metric in CATALOGUE:
        if metric in ROUTER_METRICS:
            continue  # the router's own series: tests/router/test_router_process.py checks them
        if metric in AUTH_METRICS:
            continue  # this runtime has no keys to count: tests/runtime/test_auth.py checks them
        if metric is GPU_MEMORY_USED:
            assert metric.name not in exported, "no GPU here: the series must be absent, never faked"
            continue
        if metric is ENGINE_METRICS_UP:
            assert metric.name not in exported, "the simulator serves no metrics of its own: nothing to report on"
            continue
        assert set(metric.series) <= exported, metric.name


def test_models_endpoint_says_it_is_a_simulator(sim_server) -> None:
    entry = httpx.get(sim_server.url + "/v1/models").json()["data"][0]
    assert entry["engine"] == "sim" and entry["simulated"] is True and entry["sample_rate"] == 48000


def test_not_ready_while_loading(serve) -> None:
    served = serve("--engine", "sim", "--sim-load-seconds", "2", wait_ready=False)
    wait_until(lambda: _status(served.url + "/health") == 200, 15, "/health")
    assert _status(served.url + "/ready") == 503
    refused = httpx.post(served.url + SPEECH, json={"input": "Too early."})
    assert refused.status_code == 503 and "Retry-After" in refused.headers
    wait_until(lambda: is_ready(served.url), 15, "/ready")
    assert httpx.post(served.url + SPEECH, json={"input": "Now."}, timeout=30).status_code == 200


def _status(url: str) -> int:
    try:
        return httpx.get(url, timeout=1).status_code
    except httpx.HTTPError:
        return 0


def _post_in_thread(url: str, body: dict, results: list) -> threading.Thread:
    def work() -> None:
        try:
            results.append(httpx.post(url + SPEECH, json=body, timeout=60))
        except httpx.HTTPError as err:
            results.append(err)

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def test_overload_gets_429_with_retry_after(serve) -> None:
    served = serve("--engine", "sim", "--sim-rtf", "0.5", "--max-concurrent", "1", "--max-queue", "1")
    results: list = []
    threads = [
        _post_in_thread(served.url, {"input": "A sentence that takes a little while."}, results) for _ in range(4)
    ]
    for thread in threads:
        thread.join()
    codes = sorted(r.status_code for r in results)
    assert codes.count(200) == 2 and codes.count(429) == 2, codes
    refused = next(r for r in results if r.status_code == 429)
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["error"]["type"] == "rate_limit_exceeded"


def test_slow_synthesis_gets_504(serve) -> None:
    served = serve("--engine", "sim", "--sim-rtf", "5", "--request-timeout", "0.5")
    body = {"input": "This will not finish in time at all.", "stream": False}
    response = httpx.post(served.url + SPEECH, json=body, timeout=30)
    assert response.status_code == 504 and response.json()["error"]["type"] == "timeout"
    wait_until(lambda: metric_value(served.url, "voxdeploy_requests_in_flight") == 0, 5, "the slot to be released")


def test_client_disconnect_cancels_the_synthesis(serve) -> None:
    served = serve("--engine", "sim", "--sim-rtf", "3")
    with pytest.raises(httpx.ReadTimeout):
        body = {"input": "A long text " * 20, "stream": False}
        httpx.post(served.url + SPEECH, json=body, timeout=httpx.Timeout(5, read=0.5))
    wait_until(lambda: metric_value(served.url, "voxdeploy_requests_in_flight") == 0, 5, "cancellation")
    assert metric_value(served.url, "voxdeploy_audio_seconds_total") == 0


def test_vllm_omni_engine_proxies_and_heals_after_the_engine_dies(serve) -> None:
    """The vllm-omni adapter against the simulator serving vLLM-Omni's HTTP contract as its upstream."""
    upstream_port = free_port()
    command = [sys.executable, "-m", "voxdeploy", "serve", "--engine", "sim", "--port", str(upstream_port)]
    served = serve("--engine", "vllm-omni", "--engine-port", str(upstream_port), "--engine-command", *command)
    body = {"input": "Through the proxy.", "seed": 1, **WHOLE_WAV}
    response = httpx.post(served.url + SPEECH, json=body, timeout=30)
    assert response.status_code == 200, response.text
    assert wav_duration(response.content) > 0.5
    upstream_pid = _pid_listening(upstream_port)
    os.kill(upstream_pid, signal.SIGKILL)
    wait_until(lambda: _status(served.url + "/ready") == 503, 10, "/ready to go false")
    refused = httpx.post(served.url + SPEECH, json={"input": "While down."}, timeout=30)
    assert refused.status_code == 503 and "Retry-After" in refused.headers
    wait_until(lambda: is_ready(served.url), 30, "the engine to be restarted")
    again = httpx.post(served.url + SPEECH, json={"input": "Back again."}, timeout=30)
    assert again.status_code == 200
    assert metric_value(served.url, "voxdeploy_engine_restarts_total") == 1


def _pid_listening(port: int) -> int:
    """PID of the process listening on a loopback port (Linux /proc), to kill a real engine child."""
    inode = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as handle:
            for line in handle.readlines()[1:]:
                fields = line.split()
                if int(fields[1].split(":")[1], 16) == port and fields[3] == "0A":
                    inode = fields[9]
    assert inode is not None, f"nothing listens on {port}"
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]" for fd in os.listdir(f"/proc/{pid}/fd")):
                return int(pid)
        except OSError:
            continue
    raise AssertionError(f"no process owns the socket on {port}")
