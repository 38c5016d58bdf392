"""What a batch has done, kept so that nothing is lost or done twice whatever kills it.

An audio file is written to a temporary name and renamed into place (a rename within a directory is atomic), then
its result is appended to the journal and flushed to disk: a file without a journal line (killed between the two)
is simply made again, atomically replacing itself, so a re-run always ends with exactly one complete file per
request. A journal line cut short by the kill is not JSON and is skipped. At the end the journal's latest line per
request becomes `results.jsonl`, one line per request in OpenAI's batch output shape.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from voxdeploy.loadtests.batch.inputs import BatchRequest

EXTENSIONS = {"mp3": "mp3", "opus": "ogg", "aac": "aac", "flac": "flac", "wav": "wav", "pcm": "pcm"}
"""File name extension per response_format (opus comes in an Ogg container)."""


@dataclass(frozen=True)
class Outcome:
    """One request's final answer in this run: a file, or why there is none."""

    custom_id: str
    status: int | None
    """HTTP status of the last attempt; None when no answer came (connection refused, timeout)."""
    attempts: int
    latency: float
    file: str | None = None
    bytes: int | None = None
    audio_seconds: float | None = None
    sample_rate: int | None = None
    request_id: str | None = None
    error: dict[str, Any] | None = None
    """The server's error object, or {code, message} of a failure with no answer."""
    cause: str | None = None
    """One word for the summary's failures by cause: http_400, http_503, timeout, connect, invalid_audio..."""

    @property
    def ok(self) -> bool:
        return self.file is not None

    @property
    def rtf(self) -> float | None:
        return self.latency / self.audio_seconds if self.ok and self.audio_seconds else None


class BatchStore:
    """The output directory: audio/, the journal, results and summary (suffixed by shard when sharded)."""

    def __init__(self, root: Path, shard: str = "") -> None:
        self.root = root
        self.audio = root / "audio"
        self.audio.mkdir(parents=True, exist_ok=True)
        self.journal = root / f"journal{shard}.jsonl"
        self.results = root / f"results{shard}.jsonl"
        self.summary = root / f"summary{shard}.json"

    def audio_path(self, request: BatchRequest) -> Path:
        return self.audio / f"{request.custom_id}.{EXTENSIONS[request.response_format]}"

    def done(self) -> dict[str, Outcome]:
        """Requests whose file is in place as the journal recorded it; others (failed, or cut off) are redone."""
        return {
            custom_id: outcome
            for custom_id, outcome in self.latest().items()
            if outcome.ok and _same_size(self.root / str(outcome.file), outcome.bytes)
        }

    def latest(self) -> dict[str, Outcome]:
        latest: dict[str, Outcome] = {}
        if not self.journal.exists():
            return latest
        for line in self.journal.read_text(encoding="utf-8").splitlines():
            try:
                outcome = Outcome(**json.loads(line))
            except (json.JSONDecodeError, TypeError):
                continue  # the line a kill cut short
            latest[outcome.custom_id] = outcome
        return latest

    def write_audio(self, request: BatchRequest, data: bytes) -> str:
        """The file in place, atomically; its path relative to the output directory."""
        path = self.audio_path(request)
        temporary = _temporary(path)
        with temporary.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        return str(path.relative_to(self.root))

    def record(self, outcome: Outcome) -> None:
        """Append the outcome to the journal, on disk before the next request's."""
        with self.journal.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(asdict(outcome), separators=(",", ":")) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def clean_temporaries(self) -> int:
        """Remove what a killed run left half-written; nothing in place is touched."""
        removed = 0
        for leftover in self.audio.glob(".*.tmp"):
            leftover.unlink(missing_ok=True)
            removed += 1
        return removed

    def write_results(self, requests: Iterable[BatchRequest]) -> None:
        """results.jsonl: one line per request of the batch that has an outcome, in input order."""
        latest = self.latest()
        lines = [json.dumps(batch_output_line(latest[r.custom_id])) for r in requests if r.custom_id in latest]
        write_atomically(self.results, "".join(line + "\n" for line in lines))


def batch_output_line(outcome: Outcome) -> dict[str, Any]:
    """OpenAI's batch output line: an answer (success or the server's error) in `response`, or `error` if none."""
    line: dict[str, Any] = {"id": f"batch_req_{secrets.token_hex(12)}", "custom_id": outcome.custom_id}
    if outcome.status is None:
        return {**line, "response": None, "error": outcome.error}
    if outcome.ok:
        body: dict[str, Any] = {
            "file": outcome.file,
            "bytes": outcome.bytes,
            "audio_seconds": outcome.audio_seconds,
            "sample_rate": outcome.sample_rate,
            "latency_seconds": round(outcome.latency, 4),
            "rtf": None if outcome.rtf is None else round(outcome.rtf, 4),
        }
    else:
        body = {"error": outcome.error}
    response = {"status_code": outcome.status, "request_id": outcome.request_id, "body": body}
    return {**line, "response": response, "error": None}


def write_atomically(path: Path, text: str) -> None:
    temporary = _temporary(path)
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _temporary(path: Path) -> Path:
    """A hidden name beside `path` (same directory, so the rename is atomic) that clean_temporaries finds."""
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")


def _same_size(path: Path, size: int | None) -> bool:
    try:
        return path.stat().st_size == size
    except FileNotFoundError:
        return False
