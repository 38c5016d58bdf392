"""The requests of a batch, read and checked before anything is sent.

Three shapes: OpenAI's batch input (JSON lines of `custom_id`, `method: POST`, `url: /v1/audio/speech`, `body`,
as its Batch API documents them), plain text (one input a line, ids `line-N`), and CSV (a `text` or `input`
column, optional `custom_id` and any request field as further columns). Every problem is reported with its line
number and the rest still runs: a batch of 200,000 paragraphs should not stop at paragraph 17.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from voxdeploy.contracts.api import SPEECH_PATH
from voxdeploy.contracts.runtime import ResponseFormat

FORMATS: tuple[str, ...] = get_args(ResponseFormat)
DEFAULT_FORMAT = "wav"
"""What a batch writes when a body names no format: every player reads it and its header holds its length."""
CUSTOM_ID = re.compile(r"^[A-Za-z0-9][-._A-Za-z0-9]{0,127}$")
"""An id is also a file name: letters, digits and `-._`, starting with a letter or digit, at most 128 chars."""
CSV_FIELDS = {"voice", "model", "instructions", "language", "response_format", "speed", "seed"}
"""CSV columns sent as request fields (besides the text); numbers are read as JSON."""


@dataclass(frozen=True)
class BatchRequest:
    """One request of the batch: where it came from, its id and the body it sends."""

    line: int
    custom_id: str
    body: dict[str, Any]

    @property
    def response_format(self) -> str:
        return str(self.body["response_format"])


@dataclass(frozen=True)
class InputProblem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class BatchInput:
    requests: list[BatchRequest] = field(default_factory=list)
    problems: list[InputProblem] = field(default_factory=list)


def read_input(path: Path) -> BatchInput:
    """The requests of `path` (its suffix picks the shape: .jsonl/.json, .csv, anything else plain text)."""
    text = path.read_text(encoding="utf-8-sig")
    suffix = path.suffix.lower()
    rows = _jsonl(text) if suffix in (".jsonl", ".json") else _csv(text) if suffix == ".csv" else _plain(text)
    return check(rows)


Row = tuple[int, str | None, Any]
"""(line, custom_id or None where the shape has none, body or the message of what is wrong with the line)."""


def _jsonl(text: str) -> Iterator[Row]:
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as err:
            yield number, None, f"not JSON ({err.msg} at column {err.colno})"
            continue
        if not isinstance(item, dict):
            yield number, None, "must be a JSON object with custom_id, method, url and body"
            continue
        unknown = sorted(set(item) - {"custom_id", "method", "url", "body"})
        if unknown:
            yield number, None, f"unknown key {unknown[0]!r}; a line holds custom_id, method, url and body"
        elif item.get("method") != "POST":
            yield number, None, f"method must be POST (got {item.get('method')!r})"
        elif item.get("url") != SPEECH_PATH:
            yield number, None, f"url must be {SPEECH_PATH} (got {item.get('url')!r})"
        elif not isinstance(item.get("custom_id"), str):
            yield number, None, "custom_id must be a string"
        else:
            yield number, item["custom_id"], item.get("body")


def _plain(text: str) -> Iterator[Row]:
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            yield number, None, {"input": line.strip()}


def _csv(text: str) -> Iterator[Row]:
    reader = csv.DictReader(io.StringIO(text))
    columns = set(reader.fieldnames or ())
    text_column = "input" if "input" in columns else "text" if "text" in columns else None
    if text_column is None:
        yield 1, None, f"a CSV needs a 'text' or 'input' column (its columns: {', '.join(sorted(columns)) or 'none'})"
        return
    unknown = sorted(columns - CSV_FIELDS - {text_column, "custom_id"})
    if unknown:
        yield 1, None, f"unknown column {unknown[0]!r}; columns may be custom_id, text, {', '.join(sorted(CSV_FIELDS))}"
        return
    for row in reader:
        number = reader.line_num
        body: dict[str, Any] = {"input": (row.get(text_column) or "").strip()}
        for name in sorted(CSV_FIELDS & columns):
            value = row.get(name) or ""
            if value:
                body[name] = _csv_value(value) if name in ("speed", "seed") else value
        yield number, row.get("custom_id") or None, body


def _csv_value(value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def check(rows: Iterable[Row]) -> BatchInput:
    """Each row made a request, or a problem naming its line: bad ids, ids given twice, bodies the API refuses."""
    batch = BatchInput()
    seen: dict[str, int] = {}
    for number, given_id, body in rows:
        if isinstance(body, str):
            batch.problems.append(InputProblem(number, body))
            continue
        custom_id = given_id if given_id is not None else f"line-{number}"
        problem = _id_problem(custom_id, seen) or _body_problem(body)
        if problem is not None:
            batch.problems.append(InputProblem(number, problem))
            continue
        seen[custom_id] = number
        batch.requests.append(BatchRequest(number, custom_id, _batch_body(body)))
    return batch


def _id_problem(custom_id: str, seen: dict[str, int]) -> str | None:
    if not CUSTOM_ID.match(custom_id):
        return f"custom_id {custom_id[:60]!r} must match {CUSTOM_ID.pattern} (it names the audio file)"
    if custom_id in seen:
        return f"custom_id {custom_id!r} is already used on line {seen[custom_id]}"
    return None


def _body_problem(body: Any) -> str | None:
    """What every OpenAI-compatible speech API refuses; the server's own checks still apply when it is sent."""
    if not isinstance(body, dict):
        return "body must be a JSON object (the request to /v1/audio/speech)"
    text = body.get("input")
    if not isinstance(text, str) or not text.strip():
        return "body.input must be a non-empty string (the text to speak)"
    fmt = body.get("response_format", DEFAULT_FORMAT)
    if fmt not in FORMATS:
        return f"body.response_format {fmt!r} is not one of {', '.join(FORMATS)}"
    if body.get("stream") is True or "stream_format" in body:
        return "body.stream / stream_format: a batch writes whole files; leave them out"
    speed = body.get("speed", 1.0)
    if not isinstance(speed, int | float) or isinstance(speed, bool) or not 0.25 <= speed <= 4.0:
        return f"body.speed {speed!r} must be a number from 0.25 to 4.0"
    return None


def _batch_body(body: dict[str, Any]) -> dict[str, Any]:
    """The body as sent: whole files (stream false), in the batch's default format unless it names one."""
    return {**body, "response_format": body.get("response_format", DEFAULT_FORMAT), "stream": False}


def shard(requests: list[BatchRequest], index: int, count: int) -> list[BatchRequest]:
    """The requests of shard `index` of `count`: every count-th, so shards are even whatever the order of sizes."""
    return requests[index::count]
