"""Two runtime processes sharing one voice library in a real PostgreSQL (Debian's, started by initdb), as two cloud
replicas behind one Service do: a voice made through one is spoken by the other, and deleted through the other is
gone from the first. Run with `-s` for the transcript the closing note quotes."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import yaml

from tests.support.postgres import running_postgres
from tests.support.processes import Served, start_serve
from voxdeploy.contracts.api import SPEECH_PATH, VOICES_PATH
from voxdeploy.runtime.encoding import encode

KEYS = {"admin": secrets.token_hex(16), "reader": secrets.token_hex(16)}


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[tuple[Served, Served]]:
    (tmp_path / "keys").mkdir()
    for name, key in KEYS.items():
        (tmp_path / "keys" / name).write_text(key)
    with running_postgres(tmp_path) as url:
        settings = {
            "engine": {"kind": "sim", "rtf": 0.02},
            "host": "127.0.0.1",
            "voices": {"store": url},
            "auth": {"keys": str(tmp_path / "keys"), "admins": ["admin"]},
        }
        (tmp_path / "runtime.yaml").write_text(yaml.safe_dump(settings))
        started = [start_serve(["--config", str(tmp_path / "runtime.yaml")], tmp_path / f"r{i}.log") for i in (0, 1)]
        try:
            yield started[0], started[1]
        finally:
            for served in started:
                served.stop()


def call(served: Served, method: str, path: str, key: str = "reader", **kwargs: object) -> httpx.Response:
    response = httpx.request(
        method, served.url + path, headers={"Authorization": f"Bearer {KEYS[key]}"}, timeout=60, **kwargs
    )
    json = response.headers["content-type"].startswith("application/json")
    shown = response.text[:160] if json else f"{len(response.content)} bytes of {response.headers['content-type']}"
    print(f":{served.url.rsplit(':', 1)[1]} {method} {path} ({key}) -> {response.status_code} {shown}")
    return response


def speak(served: Served, voice: object) -> httpx.Response:
    body = {
        "input": "Spoken by the other replica.",
        "voice": voice,
        "response_format": "wav",
        "stream": False,
        "seed": 3,
    }
    return call(served, "POST", SPEECH_PATH, json=body)


def test_a_voice_made_through_one_replica_is_served_and_deleted_through_the_other(replicas) -> None:
    one, other = replicas
    t = np.arange(24_000 * 2) / 24_000
    sample = encode((0.3 * np.sin(2 * np.pi * 180 * t)).astype(np.float32), 24_000, "wav")
    files = {"audio_sample": ("narrator.wav", sample, "audio/wav")}
    made = call(one, "POST", VOICES_PATH, "admin", data={"name": "narrator", "ref_text": "A sample."}, files=files)
    assert made.status_code == 200
    voice_id = made.json()["id"]

    assert "narrator" in call(other, "GET", VOICES_PATH).json()["voices"]
    assert call(other, "GET", f"{VOICES_PATH}/{voice_id}").json()["name"] == "narrator"
    by_name, by_id = speak(other, "narrator"), speak(one, {"id": voice_id})
    assert by_name.status_code == by_id.status_code == 200 and by_name.content == by_id.content

    duplicate = call(other, "POST", VOICES_PATH, "admin", data={"name": "narrator"}, files=files)
    assert duplicate.status_code == 409 and duplicate.json()["error"]["param"] == "name"
    assert call(other, "DELETE", f"{VOICES_PATH}/{voice_id}", "reader").status_code == 403
    assert call(other, "DELETE", f"{VOICES_PATH}/{voice_id}", "admin").status_code == 200

    gone = speak(one, "narrator")
    assert gone.status_code == 400 and gone.json()["error"]["param"] == "voice"
    assert call(one, "GET", f"{VOICES_PATH}/{voice_id}").status_code == 404
