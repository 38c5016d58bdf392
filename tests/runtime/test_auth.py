"""API keys on a real runtime and router on 127.0.0.1, through the official OpenAI client where a client would be.

The keys live in a directory laid out as the kubelet lays out a Secret volume (tests/support/secret_volume.py),
and are rotated the way it rotates them: an atomic `..data` swap, with the server running. Every check that a key
never shows reads the server's own log (its stdout and stderr, at DEBUG) and its /metrics.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.support.processes import REPO, Served, free_port, run_to_end, start_serve, wait_until
from tests.support.secret_volume import write_secret_volume
from voxdeploy.contracts.api import CALLER_HEADER, TIER_HEADER
from voxdeploy.contracts.auth import ApiKeys
from voxdeploy.contracts.model import MODEL_ID
from voxdeploy.contracts.runtime import RuntimeServer
from voxdeploy.loadtests import API_KEY_ENV
from voxdeploy.runtime.auth import MIN_KEY_CHARS, Keyring, KeySource, per_key_limit, read_key_directory
from voxdeploy.runtime.http import ApiError
from voxdeploy.runtime.metrics import AuthCounters

SPEECH = "/v1/audio/speech"
RELOAD_SECONDS = 0.3
LONG_TEXT = "This sentence is long enough to keep the simulated engine busy for several seconds of audio. " * 2
"""At --sim-rtf 1 (14 characters a second) about 13 s of audio, streamed as it is made: a request held open."""


def new_key() -> str:
    return secrets.token_hex(24)


@pytest.fixture(scope="module")
def keys() -> dict[str, str]:
    return {"alice": new_key(), "bob": new_key()}


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory, keys: dict[str, str]) -> Iterator[tuple[Served, Path, int]]:
    """(runtime, its Secret volume, its metrics port): a sim runtime checking keys, one request at a time per key."""
    where = tmp_path_factory.mktemp("keyed")
    volume = where / "api-keys"
    write_secret_volume(volume, keys)
    metrics_port = free_port()
    settings = {
        "engine": {"kind": "sim", "rtf": 1.0, "firstAudioSeconds": 0.02},
        "host": "127.0.0.1",
        "server": {"metricsPort": metrics_port, "logLevel": "DEBUG"},
        "auth": {"keys": str(volume), "maxConcurrentPerKey": 1, "reloadSeconds": RELOAD_SECONDS},
    }
    (where / "runtime.yaml").write_text(yaml.safe_dump(settings))
    served = start_serve(["--config", str(where / "runtime.yaml")], where / "serve.log")
    try:
        yield served, volume, metrics_port
    finally:
        served.stop()


def client(served: Served, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.url + "/v1", api_key=key, max_retries=0, timeout=30)


def speak(url: str, key: str | None = None, text: str = "Hello there.", **headers: str) -> httpx.Response:
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return httpx.post(url + SPEECH, json={"model": MODEL_ID, "input": text}, headers=headers, timeout=30)


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def test_the_openai_client_with_a_key_gets_audio(keyed, keys) -> None:
    served, _, _ = keyed
    audio = client(served, keys["alice"]).audio.speech.create(model=MODEL_ID, voice="default", input="Hello there.")
    assert audio.content[:3] == b"ID3", "OpenAI's default format, MP3"


def test_a_wrong_or_missing_key_is_refused_as_openai_refuses_it(keyed) -> None:
    served, _, _ = keyed
    with pytest.raises(openai.AuthenticationError) as caught:
        client(served, new_key()).audio.speech.create(model=MODEL_ID, voice="default", input="Hello there.")
    assert caught.value.status_code == 401
    assert caught.value.body == {  # the `error` object, as the client unwraps it
        "message": "the API key is not valid; check the key the client sends",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }
    missing = speak(served.url)
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert missing.json()["error"]["code"] == "invalid_api_key"
    assert speak(served.url, "Basic " + new_key()).status_code == 401
    assert httpx.get(served.url + "/v1/models").status_code == 401
    assert httpx.get(served.url + "/no/such/route").status_code == 401, "closed unless named open"


def test_probes_and_the_description_stay_open(keyed) -> None:
    served, _, _ = keyed
    assert httpx.get(served.url + "/health").status_code == 200
    assert httpx.get(served.url + "/ready").json()["status"] == "ready"
    assert httpx.get(served.url + "/openapi.json").json()["paths"][SPEECH]["post"]["responses"]["401"]


def test_metrics_only_on_their_own_port(keyed, keys) -> None:
    served, _, metrics_port = keyed
    scrape = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics")
    assert scrape.status_code == 200 and "voxdeploy_requests_total" in scrape.text
    assert httpx.get(served.url + "/metrics").status_code == 404
    refused = httpx.post(f"http://127.0.0.1:{metrics_port}{SPEECH}", json={"input": "x"})
    assert refused.status_code == 404, "the metrics port serves /metrics alone"
    assert httpx.get(f"http://127.0.0.1:{metrics_port}/health").status_code == 404
    rejections = samples(scrape.text, "voxdeploy_key_rejections_total")
    assert {labels for labels in rejections} >= {(("key", "alice"),), (("key", "bob"),)}


def test_one_key_over_its_share_gets_429_while_another_is_served(keyed, keys) -> None:
    served, _, metrics_port = keyed
    before = samples(httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text, "voxdeploy_key_rejections_total")
    body = {"model": MODEL_ID, "input": LONG_TEXT, "stream_format": "audio", "response_format": "pcm"}
    alice = {"Authorization": f"Bearer {keys['alice']}"}
    with httpx.stream("POST", served.url + SPEECH, json=body, headers=alice, timeout=30) as held:
        assert held.status_code == 200
        chunks = held.iter_bytes()  # kept: a generator dropped would close the stream
        next(chunks)  # audio is flowing: alice holds her one request
        second = speak(served.url, keys["alice"])
        assert second.status_code == 429 and second.headers["Retry-After"] == "1"
        assert second.json()["error"]["type"] == "rate_limit_exceeded" and "alice" in second.json()["error"]["message"]
        assert speak(served.url, keys["bob"]).status_code == 200, "bob's share is his own"
    wait_until(lambda: speak(served.url, keys["alice"]).status_code == 200, 10, "alice's share to come back")
    after = samples(httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text, "voxdeploy_key_rejections_total")
    assert after[(("key", "alice"),)] == before[(("key", "alice"),)] + 1
    assert after[(("key", "bob"),)] == before[(("key", "bob"),)]


def test_a_rotated_secret_is_in_force_without_a_restart(keyed, keys) -> None:
    served, volume, _ = keyed
    rotated = {"alice": new_key(), "bob": keys["bob"], "carol": new_key()}
    write_secret_volume(volume, rotated)
    wait_until(lambda: speak(served.url, rotated["carol"]).status_code == 200, 10, "the new key to work")
    assert speak(served.url, keys["alice"]).status_code == 401, "alice's old key is revoked"
    assert speak(served.url, rotated["alice"]).status_code == 200
    assert "API keys reloaded" in served.output() and "alice, bob, carol" in served.output()
    keys.update({"alice-old": keys["alice"], **rotated})  # every key this server ever held, for the log check
    write_secret_volume(volume, {"alice": rotated["alice"], "bob": keys["bob"]})


def test_no_key_ever_shows_in_the_log_or_the_metrics(keyed, keys) -> None:
    served, _, metrics_port = keyed
    wrong = new_key()
    assert speak(served.url, wrong).status_code == 401
    assert speak(served.url, keys["bob"]).status_code == 200
    # the access line is written once the streamed answer is over, a moment after the client has it all
    wait_until(lambda: "key=bob" in served.output(), 5, "the access line, which names the key")
    log = served.output()
    scrape = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
    for name, key in [*keys.items(), ("wrong", wrong)]:
        assert key not in log, f"{name}'s key is in the log"
        assert key not in scrape, f"{name}'s key is in /metrics"
        assert key[:MIN_KEY_CHARS] not in log + scrape


def test_without_keys_the_server_is_open_and_says_so(serve) -> None:
    served = serve("--engine", "sim", "--sim-rtf", "0.05")
    assert speak(served.url).status_code == 200
    assert "WARNING voxdeploy.auth: no API keys: anyone who can reach 127.0.0.1" in served.output()


def test_the_router_checks_callers_and_calls_the_tier_with_its_own_key(tmp_path: Path, serve, keys) -> None:
    callers, forwarders = tmp_path / "callers", tmp_path / "forwarders"
    write_secret_volume(callers, keys)
    router_key = new_key()
    write_secret_volume(forwarders, {"router": router_key})
    tier = serve(
        "--engine", "sim", "--sim-rtf", "0.05", "--api-keys", str(callers), "--forwarder-keys", str(forwarders)
    )
    router = serve(
        "--router",
        "--tier",
        f"cloud={tier.url}",
        "--api-keys",
        str(callers),
        "--upstream-key",
        str(forwarders / "router"),
    )
    via = client(router, keys["alice"]).audio.speech.with_raw_response.create(
        model=MODEL_ID, voice="default", input="Hello there."
    )
    assert via.status_code == 200 and via.headers[TIER_HEADER] == "cloud"
    wait_until(lambda: "POST /v1/audio/speech 200" in tier.output(), 5, "the tier's access line")
    assert "key=alice" in tier.output(), "the tier knows the caller by the name the router forwarded"
    with pytest.raises(openai.AuthenticationError):
        client(router, new_key()).audio.speech.create(model=MODEL_ID, voice="default", input="Hello there.")

    # a caller's own key cannot borrow another name: the header counts only from a forwarder's key
    def served_lines() -> list[str]:
        return [line for line in tier.output().splitlines() if "POST /v1/audio/speech 200" in line]

    before = len(served_lines())
    assert speak(tier.url, keys["bob"], **{CALLER_HEADER: "alice"}).status_code == 200
    wait_until(lambda: len(served_lines()) > before, 5, "the tier's access line")
    assert "key=bob" in served_lines()[-1]
    # without a caller named, the router's key stands for the router itself
    assert speak(tier.url, router_key).status_code == 200
    for key in (*keys.values(), router_key):
        assert key not in router.output() + tier.output()


def test_the_load_test_sends_the_key_from_the_environment(tmp_path: Path, serve, keys) -> None:
    write_secret_volume(tmp_path / "keys", keys)
    served = serve("--engine", "sim", "--sim-rtf", "0.05", "--api-keys", str(tmp_path / "keys"))
    out = tmp_path / "report"
    result = run_to_end(
        [
            sys.executable,
            "-m",
            "voxdeploy",
            "loadtest",
            "--stack",
            "dev",
            "--host",
            served.url,
            "-u",
            "2",
            "-t",
            "3s",
            "--report",
            str(out),
        ],
        120,
        cwd=REPO,
        env={**os.environ, API_KEY_ENV: keys["bob"]},
    )
    measured = json.loads((out / "summary.json").read_text())["measured"]
    assert measured["requests"] > 0 and measured["failures"] == 0, result.stdout + result.stderr
    assert "key=bob" in served.output()
    assert not [f for f in out.iterdir() if f.is_file() and keys["bob"] in f.read_text(errors="replace")]


def test_keys_are_read_as_the_secret_volume_holds_them(tmp_path: Path) -> None:
    good = new_key()
    write_secret_volume(
        tmp_path, {"alice": good + "\n", "short": "abc", "bad name!": new_key(), "twin-a": good, "with space": "x"}
    )
    found = read_key_directory(tmp_path)
    assert found.names == []  # alice and twin-a hold one key: neither names a caller
    problems = " | ".join(found.problems)
    assert "alice, twin-a are the same key" in problems and "key short is shorter than 16" in problems
    assert "'bad name!' is not a key name" in problems
    assert "abc" not in problems and good not in problems, "a reason never quotes the key"
    write_secret_volume(tmp_path, {"alice": good + "\n", "bob": new_key()})
    assert read_key_directory(tmp_path).names == ["alice", "bob"]


def test_an_unreadable_directory_keeps_the_keys_read_before(tmp_path: Path) -> None:
    now = [0.0]
    write_secret_volume(tmp_path / "keys", {"alice": new_key()})
    source = KeySource(tmp_path / "keys", 1.0, "API keys", clock=lambda: now[0])
    assert [name for name, _ in source.entries()] == ["alice"]
    (tmp_path / "keys").rename(tmp_path / "gone")
    now[0] = 2.0
    assert [name for name, _ in source.entries()] == ["alice"]


def test_a_forwarder_names_the_caller_and_nobody_else_can() -> None:
    from prometheus_client import CollectorRegistry
    from starlette.datastructures import Headers

    callers, router = new_key(), new_key()
    registry = CollectorRegistry()
    keyring = Keyring(ApiKeys(keys="/nonexistent", forwarders="/nonexistent"), RuntimeServer(), AuthCounters(registry))
    keyring.callers.entries = lambda: (("bob", _digest(callers)),)  # type: ignore[method-assign]
    assert keyring.forwarders is not None
    keyring.forwarders.entries = lambda: (("router", _digest(router)),)  # type: ignore[method-assign]

    def identify(key: str, caller: str | None = None) -> str:
        headers = {"authorization": f"Bearer {key}"} | ({CALLER_HEADER: caller} if caller else {})
        return keyring.identify(Headers(headers))

    assert identify(router, "alice") == "alice" and identify(router) == "router"
    assert identify(callers, "alice") == "bob"
    with pytest.raises(ApiError) as caught:
        identify(router, "not a name")
    assert caught.value.status == 400


def test_the_default_share_is_half_the_slots_and_queue() -> None:
    server = RuntimeServer(max_concurrent_requests=8, max_queued_requests=32)
    assert per_key_limit(ApiKeys(keys="/k"), server) == 20
    assert per_key_limit(ApiKeys(keys="/k", max_concurrent_per_key=3), server) == 3
    assert per_key_limit(ApiKeys(keys="/k"), RuntimeServer(max_concurrent_requests=1, max_queued_requests=0)) == 1


def test_transcript_401_200_429(keyed, keys) -> None:
    """The closing note's transcript (pytest -s prints it): curl's view of a missing key, a good one, and one key
    over its share while another is served."""
    served, _, _ = keyed
    url = served.url + SPEECH
    names = {key: f"${name.upper()}_KEY" for name, key in keys.items()}
    lines: list[str] = []

    def curl(key: str | None, body: dict) -> httpx.Response:
        auth = f" -H 'Authorization: Bearer {names[key]}'" if key else ""
        lines.append(f"$ curl -si {url} -H 'Content-Type: application/json'{auth} -d '{json.dumps(body)}'")
        response = speak(served.url, key, body["input"])
        lines.append(f"HTTP/1.1 {response.status_code} {response.reason_phrase}")
        for header in ("content-type", "retry-after", "www-authenticate"):
            if header in response.headers:
                lines.append(f"{header}: {response.headers[header]}")
        lines.append(
            response.text
            if "json" in response.headers["content-type"]
            else f"<{len(response.content)} bytes of {response.headers['content-type']}>"
        )
        return response

    assert curl(None, {"input": "Hello there."}).status_code == 401
    assert curl(keys["alice"], {"input": "Hello there."}).status_code == 200
    body = {"model": MODEL_ID, "input": LONG_TEXT, "stream_format": "audio", "response_format": "pcm"}
    with httpx.stream("POST", url, json=body, headers={"Authorization": f"Bearer {keys['alice']}"}, timeout=30) as held:
        chunks = held.iter_bytes()
        next(chunks)
        lines.append("# alice holds one streamed request (maxConcurrentPerKey: 1)")
        assert curl(keys["alice"], {"input": "Hello again."}).status_code == 429
        assert curl(keys["bob"], {"input": "Hello, I am bob."}).status_code == 200
    print("\n" + "\n".join(lines))  # shown with pytest -s


def _digest(key: str) -> bytes:
    import hashlib

    return hashlib.sha256(key.encode()).digest()
