"""Locust load test of the voxdeploy speech API (any engine, any tier, or vLLM-Omni itself).

    locust -f loadtests/locustfile.py --host http://127.0.0.1:8000            # web UI
    voxdeploy loadtest --stack staging --host http://127.0.0.1:8000 ...      # headless, with the SLO gate

Each user sends texts from the shipped corpus back to back, on Locust's FastHttpUser (geventhttpclient: the
client Locust recommends when the load generator must not be the bottleneck). Locust's request table holds the
real HTTP requests only; real-time factor, time to first audio and whole-stream latency are their own table
(loadtests/figures.py), in the web UI's "Speech figures" tab. The raw per-request records go to
`--voxdeploy-records` (JSON lines) for the gate and the report; with workers they travel to the master in the
workers' reports, so every figure is over all workers' requests.
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
from locust import FastHttpUser, constant, events, task
from locust.runners import MasterRunner, WorkerRunner

from voxdeploy.contracts.api import SPEECH_PATH
from voxdeploy.contracts.model import MODEL_ID, VOXCPM2_SAMPLE_RATE
from voxdeploy.loadtests import API_KEY_ENV
from voxdeploy.loadtests.audio_length import response_seconds
from voxdeploy.loadtests.corpus import DEFAULT_LANGUAGE_MIX, DEFAULT_SIZE_MIX, LANGUAGES, SIZES, parse_mix, pick
from voxdeploy.loadtests.figures import CSV_COLUMNS, figure_rows, figures_csv
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


class SpeechUser(FastHttpUser):
    """A client that asks for speech, waits for all of it, and asks again."""

    wait_time = constant(0)
    network_timeout = 600.0
    """Longest wait for one response: a long text on a loaded GPU takes minutes, not Locust's default 60 s."""
    connection_timeout = 10.0
    _count = 0

    def on_start(self) -> None:
        options = self.environment.parsed_options
        SpeechUser._count += 1
        self.rng = random.Random(options.voxdeploy_seed + SpeechUser._count)
        self.sizes = parse_mix(options.voxdeploy_sizes, SIZES)
        self.languages = parse_mix(options.voxdeploy_languages, LANGUAGES)
        self.options = options
        self.headers = {"Accept": "*/*"}
        key = os.environ.get(API_KEY_ENV)
        if key:
            self.headers["Authorization"] = f"Bearer {key}"

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
        start, ttfa, audio, error, status, seconds = time.time(), None, b"", None, 0, None
        began = time.perf_counter()
        try:
            with self.client.post(
                SPEECH_PATH, json=body, headers=self.headers, stream=streamed, catch_response=True, name=name
            ) as response:
                status = response.status_code or 0
                if streamed and status == 200:
                    pieces = []
                    for piece in response.iter_content(chunk_size=65536, decode_content=False):
                        if piece and ttfa is None:
                            ttfa = time.perf_counter() - began
                        pieces.append(piece)
                    audio = b"".join(pieces)
                else:
                    audio = response.content or b""
                latency = time.perf_counter() - began
                # A streamed request's entry in Locust's table is the whole stream, not the time to its headers.
                response.request_meta["response_time"] = latency * 1000
                response.request_meta["response_length"] = len(audio)
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
        except Exception as err:  # connection refused/reset mid-body: a failed request, never a crashed user
            latency, seconds, error = time.perf_counter() - began, None, f"{type(err).__name__}: {err}"
        record = RequestRecord(
            start, latency, error is None, status, chosen.size, chosen.language, streamed, seconds, ttfa, error
        )
        RECORDS.append(record.as_dict())


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


FIGURES_TAB = "voxdeploy-figures"
FIGURES_CSV_PATH = "/voxdeploy/figures.csv"


@events.init.add_listener
def _figures_tab(environment, **_: object) -> None:
    """The "Speech figures" tab of Locust's web UI (its extended_tabs / extended_stats hooks, as in Locust's
    examples/extend_web_ui.py), refreshed with every poll of /stats/requests, and its CSV download."""
    web_ui = environment.web_ui
    if web_ui is None:
        return
    from flask import make_response, request

    titles = {"unit": "Unit ('x' ratio, 's' seconds)", "count": "Requests"}
    web_ui.template_args["extended_tabs"] = [{"title": "Speech figures", "key": FIGURES_TAB}]
    web_ui.template_args["extended_tables"] = [
        {"key": FIGURES_TAB, "structure": [{"key": c, "title": titles.get(c, c.upper())} for c in CSV_COLUMNS]}
    ]
    web_ui.template_args["extended_csv_files"] = [
        {"href": FIGURES_CSV_PATH, "title": "Download speech figures (RTF, TTFA, E2E stream) CSV"}
    ]

    @web_ui.app.after_request
    def _extend_stats(response):
        if request.path != "/stats/requests" or not response.is_json:
            return response
        rows = [{**row.model_dump(), "safe_name": row.figure} for row in figure_rows(RECORDS)]
        response.set_data(json.dumps({**response.json, "extended_stats": [{"key": FIGURES_TAB, "data": rows}]}))
        return response

    @web_ui.app.route(FIGURES_CSV_PATH)
    def _figures_csv():
        response = make_response(figures_csv(figure_rows(RECORDS)))
        response.headers["Content-Type"] = "text/csv"
        response.headers["Content-Disposition"] = "attachment;filename=voxdeploy_figures.csv"
        return response


@events.reset_stats.add_listener
def _reset_records() -> None:
    """The web UI's Reset Stats resets the speech figures with Locust's own."""
    RECORDS.clear()
