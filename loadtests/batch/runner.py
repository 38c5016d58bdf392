"""Sending a batch: every pending request once, as many in flight as the limit allows, each retried while the
server says "later" (429, 503: after its Retry-After) or fails in a way that may pass (5xx, a dropped connection),
and recorded the moment it is done."""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from voxdeploy.contracts.api import ENGINE_HEADER, REQUEST_ID_HEADER, SAMPLE_RATE_HEADER, SPEECH_PATH
from voxdeploy.contracts.runtime import OPENAI_SAMPLE_RATE
from voxdeploy.loadtests.audio_length import response_seconds
from voxdeploy.loadtests.batch import inputs
from voxdeploy.loadtests.batch.pacing import Concurrency, backoff_seconds, retry_after_seconds
from voxdeploy.loadtests.batch.store import BatchStore, Outcome
from voxdeploy.loadtests.batch.summary import BatchSummary, summarize

OVERLOAD = (429, 503)
"""The server's own "not now": wait as told (Retry-After) and try again; it is not a failure of the request."""
RETRIED = (500, 502, 504)


class BatchInputError(Exception):
    """Problems in the input with --strict, or no request to send at all."""


@dataclass(frozen=True)
class BatchOptions:
    input: Path
    output: Path
    host: str
    api_key: str | None = None
    concurrency: int = 4
    adaptive: bool = False
    max_concurrency: int = 64
    max_retries: int = 5
    """Retries of a failure that may pass (5xx, connection); a 429/503 wait is retried until max_wait_seconds."""
    max_wait_seconds: float = 600.0
    timeout_seconds: float = 300.0
    strict: bool = False
    shard_index: int = 0
    shards: int = 1
    progress: bool | None = None
    """True/False force the progress bar; None shows it on a terminal only."""


@dataclass
class BatchRun:
    summary: BatchSummary
    problems: list[inputs.InputProblem]
    outcomes: list[Outcome]


def run(options: BatchOptions) -> BatchRun:
    batch = inputs.read_input(options.input)
    for problem in batch.problems:
        print(f"{options.input}: {problem}", file=sys.stderr)
    if batch.problems and options.strict:
        raise BatchInputError(f"{len(batch.problems)} problem(s) in {options.input} and --strict: nothing was sent")
    if not batch.requests:
        raise BatchInputError(f"no request to send in {options.input}")
    requests = inputs.shard(batch.requests, options.shard_index, options.shards)
    store = BatchStore(options.output, f"-{options.shard_index}" if options.shards > 1 else "")
    store.clean_temporaries()
    done = store.done()
    pending = [r for r in requests if r.custom_id not in done]
    started = time.monotonic()
    outcomes, limit, engine = asyncio.run(_send_all(pending, store, options, skipped=len(requests) - len(pending)))
    wall = time.monotonic() - started
    store.write_results(requests)
    summary = summarize(outcomes, len(requests), len(requests) - len(pending), wall, limit, options.host, engine)
    store.summary.write_text(summary.model_dump_json(indent=2) + "\n")
    return BatchRun(summary, batch.problems, outcomes)


async def _send_all(
    pending: list[inputs.BatchRequest], store: BatchStore, options: BatchOptions, skipped: int
) -> tuple[list[Outcome], int, str | None]:
    from tqdm import tqdm

    concurrency = Concurrency(options.concurrency, max(options.max_concurrency, options.concurrency), options.adaptive)
    concurrency.start(time.monotonic())
    headers = {"Authorization": f"Bearer {options.api_key}"} if options.api_key else {}
    limits = httpx.Limits(max_connections=concurrency.maximum, max_keepalive_connections=concurrency.maximum)
    outcomes: list[Outcome] = []
    engines: set[str] = set()
    slots = Slots(concurrency)
    bar = tqdm(
        total=len(pending) + skipped, initial=skipped, unit="req", disable=_bar_off(options.progress), smoothing=0.1
    )
    audio_seconds = 0.0
    timeout = httpx.Timeout(options.timeout_seconds, connect=10.0)
    async with httpx.AsyncClient(base_url=options.host, headers=headers, timeout=timeout, limits=limits) as client:

        async def one(request: inputs.BatchRequest) -> None:
            nonlocal audio_seconds
            try:
                outcome = await _send(client, request, store, options, concurrency, engines)
                store.record(outcome)
                outcomes.append(outcome)
                audio_seconds += outcome.audio_seconds or 0.0
                bar.update(1)
                bar.set_postfix(concurrency=concurrency.limit, audio_h=f"{audio_seconds / 3600:.3f}", refresh=False)
            finally:
                await slots.release()

        tasks: set[asyncio.Task[None]] = set()
        for request in pending:
            await slots.take()
            task = asyncio.create_task(one(request))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
    bar.close()
    return outcomes, concurrency.limit, next(iter(sorted(engines)), None)


class Slots:
    """Requests in flight, at most the concurrency's limit, which may change between two sends."""

    def __init__(self, concurrency: Concurrency) -> None:
        self.concurrency = concurrency
        self.in_flight = 0
        self._changed = asyncio.Condition()

    async def take(self) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_flight < self.concurrency.limit)
            self.in_flight += 1

    async def release(self) -> None:
        async with self._changed:
            self.in_flight -= 1
            self._changed.notify_all()


def _bar_off(progress: bool | None) -> bool | None:
    """tqdm's `disable`: None turns the bar off where stderr is no terminal (CI logs, pods)."""
    return None if progress is None else not progress


async def _send(
    client: httpx.AsyncClient,
    request: inputs.BatchRequest,
    store: BatchStore,
    options: BatchOptions,
    concurrency: Concurrency,
    engines: set[str],
) -> Outcome:
    attempts, failures, waited = 0, 0, 0.0
    while True:
        attempts += 1
        sent = time.monotonic()
        try:
            response = await client.post(SPEECH_PATH, json=request.body)
        except httpx.TimeoutException as err:
            outcome = _no_answer(request, attempts, sent, "timeout", err)
        except httpx.TransportError as err:
            outcome = _no_answer(request, attempts, sent, "connect", err)
        else:
            if ENGINE_HEADER in response.headers:
                engines.add(response.headers[ENGINE_HEADER])
            if response.status_code in OVERLOAD:
                concurrency.on_overload(time.monotonic())
                wait = retry_after_seconds(response.headers.get("Retry-After"), time.time())
                wait = backoff_seconds(min(attempts, 6)) if wait is None else wait
                if waited + wait <= options.max_wait_seconds:
                    waited += wait
                    await asyncio.sleep(wait)
                    continue
            outcome = _answered(request, response, attempts, sent, store)
            concurrency.on_done(outcome.rtf, outcome.audio_seconds or 0.0, time.monotonic())
        if outcome.ok or (outcome.status is not None and outcome.status not in RETRIED):
            return outcome
        failures += 1
        if failures > options.max_retries:
            return outcome
        await asyncio.sleep(backoff_seconds(failures))


def _answered(
    request: inputs.BatchRequest, response: httpx.Response, attempts: int, sent: float, store: BatchStore
) -> Outcome:
    latency = time.monotonic() - sent
    common: dict[str, Any] = {
        "custom_id": request.custom_id,
        "status": response.status_code,
        "attempts": attempts,
        "latency": latency,
        "request_id": response.headers.get(REQUEST_ID_HEADER),
    }
    if response.status_code != 200:
        return Outcome(**common, error=_error_of(response), cause=f"http_{response.status_code}")
    rate = int(response.headers.get(SAMPLE_RATE_HEADER, OPENAI_SAMPLE_RATE))  # OpenAI's when unsaid
    try:
        seconds = response_seconds(response.content, request.response_format, rate)
    except ValueError as err:
        return Outcome(**common, error={"code": "invalid_audio", "message": str(err)}, cause="invalid_audio")
    file = store.write_audio(request, response.content)
    return Outcome(**common, file=file, bytes=len(response.content), audio_seconds=round(seconds, 4), sample_rate=rate)


def _no_answer(request: inputs.BatchRequest, attempts: int, sent: float, cause: str, err: Exception) -> Outcome:
    message = str(err) or type(err).__name__
    return Outcome(
        request.custom_id,
        None,
        attempts,
        time.monotonic() - sent,
        error={"code": cause, "message": message},
        cause=cause,
    )


def _error_of(response: httpx.Response) -> dict[str, Any]:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    if isinstance(error, dict):
        return error
    return {"code": response.status_code, "message": response.text[:500]}
