"""Logs an operator can use: the access line, the request id through runtime, engine and router, JSON lines, and
background polls kept out of INFO. In-process first (ASGI, scripted upstreams), then real `voxdeploy serve`
processes whose every output line is read back."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from tests.support import llama_tts_server
from tests.support.processes import free_port, start_serve, wait_until
from voxdeploy.contracts.api import REQUEST_ID_HEADER, SPEECH_PATH
from voxdeploy.contracts.router import HealthChecking, RouterSettings
from voxdeploy.contracts.runtime import ProcessEngine, RuntimeConfig
from voxdeploy.runtime.engines.vllm_omni import VllmOmniEngine
from voxdeploy.runtime.logs import LOGGED_PATH_CHARS, AccessLog, JsonFormatter, configure_logging, usable_request_id
from voxdeploy.runtime.router.app import Router, create_router_app
from voxdeploy.runtime.router.endpoints import Pools, check_all
from voxdeploy.runtime.server import create_app

ACCESS_FIELDS = {"method", "route", "path", "status", "duration_s", "audio_seconds", "engine", "request_id", "key"}
SPEECH = {"model": "openbmb/VoxCPM2", "input": "Hello there.", "voice": "default"}


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """configure_logging replaces the root handlers (pytest's capture among them): put them back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


# -- pieces ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("4bf92f3577b34da6a3ce929d0e0e4736", True),
        ("client-1.retry:2/a+b=", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("has space", False),
        ("line\nbreak", False),
        ('{"json":1}', False),
        ("", False),
        (None, False),
    ],
)
def test_a_clients_request_id_is_kept_only_when_bounded_and_plain(sent: str | None, kept: bool) -> None:
    got = usable_request_id(sent)
    assert (got == sent) is kept
    if not kept:
        assert len(got) == 32 and int(got, 16) >= 0


def test_a_json_line_has_the_core_keys_the_fields_and_the_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("t").makeRecord(
            "t", logging.ERROR, __file__, 1, "failed %s", ("here",), sys.exc_info(), extra={"fields": {"status": 500}}
        )
    line = JsonFormatter().format(record)
    assert "\n" not in line
    document = json.loads(line)
    assert (document["level"], document["logger"], document["message"], document["status"]) == (
        "ERROR",
        "t",
        "failed here",
        500,
    )
    assert document["ts"].endswith("+00:00") and "ValueError: boom" in document["exc"]


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_httpx_lines_of_polls_are_debug(level: str, restored_logging: None) -> None:
    stream = io.StringIO()
    configure_logging(level, "json", stream)
    logging.getLogger("httpx").info('HTTP Request: GET http://127.0.0.1:1/health "HTTP/1.1 200 OK"')
    logging.getLogger("voxdeploy.supervisor").info("engine ready (pid 1)")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    levels = {line["logger"]: line["level"] for line in lines}
    assert levels == ({"httpx": "DEBUG"} if level == "DEBUG" else {}) | {"voxdeploy.supervisor": "INFO"}


@pytest.mark.parametrize(
    ("bodies", "raises", "status"),
    [
        ([(b"RIFF", False)], False, 200),
        ([(b"RIFF", True)], False, 200),  # every declared byte went out; the client left before the last message
        ([(b"RI", True)], False, 499),
        ([(b"RI", True)], True, 500),
        ([], True, 500),
    ],
)
def test_the_access_status_is_what_the_client_got(
    bodies: list[tuple[bytes, bool]], raises: bool, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if bodies:
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4")]})
        for body, more in bodies:
            await send({"type": "http.response.body", "body": body, "more_body": more})
        if raises:
            raise RuntimeError("broke")

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        pass

    scope: Scope = {"type": "http", "method": "GET", "path": "/x", "headers": []}
    caplog.set_level(logging.INFO, "voxdeploy.access")
    with contextlib.suppress(RuntimeError):
        asyncio.run(AccessLog(app)(scope, receive, send))
    [record] = caplog.records
    assert record.fields["status"] == status


# -- in-process: runtime -> engine, router -> tier ---------------------------------------------


def test_the_runtime_returns_the_id_and_forwards_it_to_the_engine(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[httpx.Request] = []

    def engine_answers(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"\x00\x01" * 4800)

    settings = ProcessEngine(kind="vllm-omni", command=["vllm"], port=18000)
    engine = VllmOmniEngine(settings, request_timeout=5.0)
    engine._client = httpx.AsyncClient(base_url=engine.base_url, transport=httpx.MockTransport(engine_answers))
    engine.supervisor.ready = True
    app = create_app(RuntimeConfig(engine=settings), engine)

    async def calls() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://runtime") as client:
            return [
                await client.post(SPEECH_PATH, json=SPEECH, headers={REQUEST_ID_HEADER: "given-1"}),
                await client.post(SPEECH_PATH, json=SPEECH),
                await client.get("/nowhere", headers={REQUEST_ID_HEADER: "bad id"}),
            ]

    caplog.set_level(logging.INFO, "voxdeploy.access")
    given, made, missing = asyncio.run(calls())
    assert (given.status_code, made.status_code, missing.status_code) == (200, 200, 404)
    assert given.headers[REQUEST_ID_HEADER] == "given-1" == seen[0].headers[REQUEST_ID_HEADER]
    assert made.headers[REQUEST_ID_HEADER] == seen[1].headers[REQUEST_ID_HEADER] != "given-1"
    assert missing.headers[REQUEST_ID_HEADER] not in ("bad id", made.headers[REQUEST_ID_HEADER])
    lines = [record.fields for record in caplog.records if record.name == "voxdeploy.access"]
    assert [(line["route"], line["status"], line["engine"]) for line in lines] == [
        (SPEECH_PATH, 200, "vllm-omni"),
        (SPEECH_PATH, 200, "vllm-omni"),
        ("-", 404, "-"),
    ]
    assert lines[0]["audio_seconds"] == 0.1 and lines[2]["audio_seconds"] is None
    assert [line["path"] for line in lines] == [SPEECH_PATH, SPEECH_PATH, "/nowhere"], "where an unrouted one went"


def test_the_router_forwards_the_id_to_the_tier_and_returns_it_once() -> None:
    seen: list[httpx.Request] = []

    async def tier(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/ready":
            return httpx.Response(200)
        seen.append(request)
        headers = {"content-type": "audio/wav", REQUEST_ID_HEADER: "the-tiers-own", "x-voxdeploy-engine": "sim"}
        return httpx.Response(200, stream=httpx.ByteStream(b"RIFF"), headers=headers)

    router = Router(RouterSettings.model_validate({"endpoints": {"cloud": ["http://cloud:1"]}}))
    app = create_router_app(router)
    router.client = httpx.AsyncClient(transport=httpx.MockTransport(tier))

    async def call() -> httpx.Response:
        await check_all(router.pools, router.client)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://router") as client:
            return await client.post(SPEECH_PATH, json=SPEECH, headers={REQUEST_ID_HEADER: "from-client"})

    response = asyncio.run(call())
    assert response.status_code == 200 and seen[0].headers[REQUEST_ID_HEADER] == "from-client"
    assert response.headers.get_list(REQUEST_ID_HEADER) == ["from-client"]


def test_ejection_and_readmission_are_logged_once_and_checks_not_at_all(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    pools = Pools(
        {"edge": ["http://a:1", "http://b:1"]},
        HealthChecking(eject_after_failures=1, max_ejection_percent=50),
        lambda: now[0],
    )
    caplog.set_level(logging.DEBUG, "voxdeploy.router")
    for endpoint in pools.all():
        pools.checked(endpoint, True)
    first = pools.all()[0]
    pools.failed(first)
    for _ in range(3):  # checks while ejected, then after: one readmission, and nothing for checks that change nothing
        now[0] += 20
        for endpoint in pools.all():
            pools.checked(endpoint, True)
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        "edge endpoint http://a:1 is ready",
        "edge endpoint http://b:1 is ready",
        "edge endpoint http://a:1 ejected for 30 s after 1 failed requests in a row",
        "edge endpoint http://a:1 readmitted: its ejection is over",
    ]


# -- real processes ----------------------------------------------------------------------------


def _records(output: str) -> list[dict]:
    """Every line the process wrote, each of which must be one JSON object."""
    records = []
    for line in output.splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}") from None
    return records


def test_json_logs_of_a_real_runtime_have_one_access_line_per_request(tmp_path: Path) -> None:
    served = start_serve(["--engine", "sim", "--sim-rtf", "0.05", "--log-format", "json"], tmp_path / "serve.log")
    try:
        with httpx.Client(base_url=served.url, timeout=30) as client:
            given = client.post(
                SPEECH_PATH, json=SPEECH, headers={REQUEST_ID_HEADER: "op-42", "Authorization": "Bearer sk-secret"}
            )
            made = client.post(SPEECH_PATH, json=SPEECH)
            missing = client.get("/v1/nowhere/12345%0A%1b[31mforged" + "a" * 1000)
            bad = client.post(SPEECH_PATH, json={**SPEECH, "input": ""})
            polled = client.get("/health")
    finally:
        served.stop()
    output = served.output()
    assert [r.status_code for r in (given, made, missing, bad, polled)] == [200, 200, 404, 400, 200]
    assert given.headers[REQUEST_ID_HEADER] == "op-42"
    ids = [r.headers[REQUEST_ID_HEADER] for r in (given, made, missing, bad, polled)]
    assert len(set(ids)) == 5
    assert "sk-secret" not in output and "Bearer" not in output
    records = _records(output)
    assert all({"ts", "level", "logger", "message"} <= set(record) for record in records)
    logged = [record for record in records if record["logger"] == "voxdeploy.access"]
    # /health is polled: DEBUG. A streamed answer's line is written when its last byte has gone, which may be after
    # the client has sent the next request: lines are matched to requests by id, not by order.
    assert sorted(record["request_id"] for record in logged) == sorted(ids[:4])
    by_id = {record["request_id"]: record for record in logged}
    access = [by_id[request_id] for request_id in ids[:4]]
    assert all(set(record) >= ACCESS_FIELDS and record["key"] == "-" for record in access)
    assert [(record["method"], record["route"], record["status"], record["engine"]) for record in access] == [
        ("POST", SPEECH_PATH, 200, "sim"),
        ("POST", SPEECH_PATH, 200, "sim"),
        ("GET", "-", 404, "-"),
        ("POST", SPEECH_PATH, 400, "sim"),
    ]
    assert access[0]["audio_seconds"] > 0.5 and access[2]["audio_seconds"] is None
    # the unrouted request's path is there, bounded, and cannot start a line of its own or colour a terminal
    assert access[2]["path"].startswith("/v1/nowhere/12345\\n\\x1b[31mforged") and access[2]["path"].endswith("a...")
    assert len(access[2]["path"]) == LOGGED_PATH_CHARS + len("\\n\\x1b") - 2 + len("...")  # 256 kept, 2 escaped
    assert "\n" not in access[2]["path"] and "\x1b" not in output
    assert 0 < access[0]["duration_s"] < 30
    print("\n".join(json.dumps(record) for record in access[:3]))  # the closing note's sample


def _engine_pid(output: str) -> int | None:
    pids = [record["pid"] for record in _records(output) if record["logger"] == "voxdeploy.engine"]
    return pids[-1] if pids else None


def test_a_supervised_engines_polls_are_not_logged_its_state_changes_are(tmp_path: Path) -> None:
    engine_port = free_port()
    stand_in = [
        sys.executable,
        str(Path(llama_tts_server.__file__)),
        "--voxcpm2-base-lm",
        "a",
        "--voxcpm2-acoustic",
        "b",
    ]
    flags = ["--log-format", "json", "--engine", "llamacpp", "--engine-port", str(engine_port)]
    backoff = ["--engine-max-restart-backoff-seconds", "0.5"]
    served = start_serve(
        [*flags, *backoff, "--engine-command", *stand_in, "--port", str(engine_port)],
        tmp_path / "serve.log",
    )
    try:
        time.sleep(4)  # four health polls of a ready engine
        first = _engine_pid(served.output())
        assert first is not None
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: _engine_pid(served.output()) not in (None, first), 20, "the engine restarted")
        wait_until(lambda: served.output().count("engine ready") == 2, 20, "the new engine ready")
        time.sleep(2)
    finally:
        served.stop()
    records = _records(served.output())
    loggers = [record["logger"] for record in records]
    assert "httpx" not in loggers
    changes = [
        (r["level"], r["message"].split(" (")[0])
        for r in records
        if r["logger"] == "voxdeploy.supervisor"
        and not r["message"].startswith("engine gave no 200")  # a poll may race the kill
    ]
    assert [(level, text.split(":")[0]) for level, text in changes] == [
        ("INFO", "starting engine"),
        ("INFO", "engine ready"),
        ("WARNING", "engine exited"),
        ("INFO", "starting engine"),
        ("INFO", "engine ready"),
    ]
    engine_lines = [r for r in records if r["logger"] == "voxdeploy.engine"]
    assert [r["message"].split(":")[0] for r in engine_lines] == ["llama-tts-server (fake)"] * 2


def test_a_request_through_the_router_has_one_id_in_both_logs(tmp_path: Path) -> None:
    tier = start_serve(["--engine", "sim", "--sim-rtf", "0.05", "--log-format", "json"], tmp_path / "tier.log")
    try:
        router = start_serve(
            ["--router", "--tier", f"cloud={tier.url}", "--log-format", "json"], tmp_path / "router.log"
        )
        try:
            time.sleep(3)  # a check of the tier every 2 s: DEBUG on both sides
            answer = httpx.post(router.url + SPEECH_PATH, json=SPEECH, headers={REQUEST_ID_HEADER: "hop-1"}, timeout=30)
        finally:
            router.stop()
    finally:
        tier.stop()
    assert answer.status_code == 200 and answer.headers.get_list(REQUEST_ID_HEADER) == ["hop-1"]
    lines = {}
    for served in (router, tier):
        records = _records(served.output())
        assert not [r for r in records if r["logger"] == "httpx" or r.get("route") == "/ready"]
        [lines[served.port]] = [r for r in records if r["logger"] == "voxdeploy.access"]
    routed, served_by = lines[router.port], lines[tier.port]
    assert (routed["request_id"], routed["status"], routed["tier"], routed["engine"]) == ("hop-1", 200, "cloud", "sim")
    assert (served_by["request_id"], served_by["status"]) == ("hop-1", 200) and served_by["audio_seconds"] > 0
