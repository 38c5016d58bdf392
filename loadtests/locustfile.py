"""Locust load test of the voxdeploy speech API (any engine, any tier, or vLLM-Omni itself).

    locust -f loadtests/locustfile.py --host http://127.0.0.1:8000            # web UI
    voxdeploy loadtest --stack staging --host http://127.0.0.1:8000 ...      # headless, with the SLO gate

Each user sends texts from the shipped corpus back to back. Besides Locust's own entry per request,
every successful request reports its real-time factor (as "RTF <size>", response time = RTF x 1000)
and streamed ones their time to first audio ("TTFA <size>", ms) and whole-stream latency
("E2E stream <size>", ms), so they show in Locust's stats, CSVs and UI. The raw per-request records go
to `--voxdeploy-records` (JSON lines) for the gate and the report; with workers they travel to the
master in the workers' reports.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import gevent
from locust import HttpUser, constant, events, task
from locust.runners import MasterRunner, WorkerRunner

from voxdeploy.contracts.api import SPEECH_PATH
from voxdeploy.contracts.model import MODEL_ID, VOXCPM2_SAMPLE_RATE
from voxdeploy.loadtests import API_KEY_ENV
from voxdeploy.loadtests.audio_length import response_seconds
from voxdeploy.loadtests.corpus import DEFAULT_LANGUAGE_MIX, DEFAULT_SIZE_MIX, LANGUAGES, SIZES, parse_mix, pick
from voxdeploy.loadtests.results import RequestRecord, percentile

PROGRESS_SECONDS = 2.0
PROGRESS_WINDOW_SECONDS = 10.0

RECORDS: list[dict[str, object]] = []
"""This process's records: a local run's or a master's (all workers'), or a worker's not yet reported."""


@events.init_command_line_parser.add_listener
def _arguments(parser) -> None:
    group = parser.add_argument_group("voxdeploy")
    group.add_argument("--voxdeploy-records", default="", help="write per-request records (JSON lines) here")
    group.add_argument("--voxdeploy-sizes", default=DEFAULT_SIZE_MIX, help="text length mix")
    group.add_argument("--voxdeploy-languages", default=DEFAULT_LANGUAGE_MIX, help="language mix")
    group.add_argument(
        "--voxdeploy-stream-ratio",
        type=float,
        default=0.5,
        help="share of requests streamed (stream_format=audio); these measure time to first audio",
    )
    group.add_argument("--voxdeploy-format", choices=("wav", "pcm"), default="wav", help="response_format")
    group.add_argument(
        "--voxdeploy-sample-rate", type=int, default=VOXCPM2_SAMPLE_RATE, help="sample rate of pcm responses"
    )
    group.add_argument("--voxdeploy-model", default=MODEL_ID, help="model field of each request")
    group.add_argument("--voxdeploy-seed", type=int, default=0, help="seed of the text picks (per user: + user index)")
    group.add_argument("--voxdeploy-quiet", action="store_true", help="no progress line")


class SpeechUser(HttpUser):
    """A client that asks for speech, waits for all of it, and asks again."""

    wait_time = constant(0)
    _count = 0

    def on_start(self) -> None:
        options = self.environment.parsed_options
        SpeechUser._count += 1
        self.rng = random.Random(options.voxdeploy_seed + SpeechUser._count)
        self.sizes = parse_mix(options.voxdeploy_sizes, SIZES)
        self.languages = parse_mix(options.voxdeploy_languages, LANGUAGES)
        self.options = options
        key = os.environ.get(API_KEY_ENV)
        if key:
            self.client.headers["Authorization"] = f"Bearer {key}"

    @task
    def speak(self) -> None:
        options = self.options
        chosen = pick(self.rng, self.sizes, self.languages)
        streamed = self.rng.random() < options.voxdeploy_stream_ratio
        body: dict[str, object] = {
            "model": options.voxdeploy_model,
            "input": chosen.text,
            "voice": "default",
            "response_format": options.voxdeploy_format,
        }
        if streamed:
            body["stream_format"] = "audio"
        name = f"speech {chosen.size}" + (" stream" if streamed else "")
        start, ttfa, audio, error, status = time.time(), None, b"", None, 0
        began = time.perf_counter()
        try:
            with self.client.post(SPEECH_PATH, json=body, stream=streamed, catch_response=True, name=name) as response:
                status = response.status_code
                if streamed and status == 200:
                    for piece in response.iter_content(chunk_size=None):
                        if piece and ttfa is None:
                            ttfa = time.perf_counter() - began
                        audio += piece
                else:
                    audio = response.content or b""
                latency = time.perf_counter() - began
                seconds = None
                if status == 0:
                    error = f"no response: {response.error}"
                elif status != 200:
                    error = f"HTTP {status}: {_error_message(audio)}"
                else:
                    try:
                        seconds = response_seconds(audio, options.voxdeploy_format, options.voxdeploy_sample_rate)
                    except ValueError as err:
                        error = f"unreadable audio: {err}"
                if error:
                    response.failure(error)
                else:
                    response.success()
        except Exception as err:  # connection refused/reset: a failed request, never a crashed user
            latency, seconds, error = time.perf_counter() - began, None, f"{type(err).__name__}: {err}"
        record = RequestRecord(
            start, latency, error is None, status, chosen.size, chosen.language, streamed, seconds, ttfa, error
        )
        RECORDS.append(record.as_dict())
        self._report_figures(record)

    def _report_figures(self, record: RequestRecord) -> None:
        fire = self.environment.events.request.fire
        if record.rtf is not None:
            fire(
                request_type="RTF",
                name=record.size,
                response_time=record.rtf * 1000,
                response_length=0,
                exception=None,
                context={},
            )
        if record.streamed and record.ok:
            fire(
                request_type="TTFA",
                name=record.size,
                response_time=(record.ttfa or 0) * 1000,
                response_length=0,
                exception=None,
                context={},
            )
            fire(
                request_type="E2E stream",
                name=record.size,
                response_time=record.latency * 1000,
                response_length=0,
                exception=None,
                context={},
            )


def _error_message(body: bytes) -> str:
    try:
        return str(json.loads(body)["error"]["message"])[:200]
    except (ValueError, KeyError, TypeError):
        return body[:200].decode("utf-8", "replace")


@events.report_to_master.add_listener
def _send_records(client_id: str, data: dict) -> None:
    data["voxdeploy_records"] = RECORDS[:]
    RECORDS.clear()


@events.worker_report.add_listener
def _receive_records(client_id: str, data: dict) -> None:
    RECORDS.extend(data.get("voxdeploy_records", []))


def progress_line(records: Sequence[Mapping[str, Any]], now: float, users: int) -> str:
    """requests/s, p95 latency, p95 RTF and failures over the last few seconds."""
    recent = [r for r in records if float(r["start"]) + float(r["latency"]) >= now - PROGRESS_WINDOW_SECONDS]
    good = [r for r in recent if r["ok"]]
    p95 = percentile([float(r["latency"]) for r in good], 95)
    rtf = percentile([float(r["rtf"]) for r in good if r["rtf"] is not None], 95)
    failed = sum(1 for r in records if not r["ok"])
    fmt = lambda v, unit="": "-" if v is None else f"{v:.3g}{unit}"  # noqa: E731
    return (
        f"[voxdeploy] {len(good) / PROGRESS_WINDOW_SECONDS:.1f} req/s | p95 {fmt(p95, ' s')} | "
        f"RTF p95 {fmt(rtf)} | failures {failed}/{len(records)} | users {users}"
    )


@events.test_start.add_listener
def _start_progress(environment, **_: object) -> None:
    if isinstance(environment.runner, WorkerRunner) or environment.parsed_options.voxdeploy_quiet:
        return

    def loop() -> None:
        while True:
            gevent.sleep(PROGRESS_SECONDS)
            print(progress_line(RECORDS, time.time(), environment.runner.user_count), file=sys.stderr, flush=True)

    environment.runner.greenlet.spawn(loop)


@events.quitting.add_listener
def _write_records(environment, **_: object) -> None:
    target = environment.parsed_options.voxdeploy_records
    if not target or isinstance(environment.runner, WorkerRunner):
        return
    if isinstance(environment.runner, MasterRunner):
        gevent.sleep(0)  # let the last worker reports land
    Path(target).write_text("".join(json.dumps(r) + "\n" for r in RECORDS), encoding="utf-8")
