"""summary.json: the machine-readable result of a run (parameters, figures, verdicts), with a JSON schema."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from voxdeploy.loadtests.figures import FigureRow
from voxdeploy.loadtests.gate import Verdict
from voxdeploy.loadtests.results import Measured

SCHEMA_VERSION = 2
"""2: engine, simulated, started_at, finished_at and figures added."""


class RunParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str
    scenario: str
    users: int
    spawn_rate: float
    duration_seconds: float
    processes: int
    size_mix: dict[str, float]
    language_mix: dict[str, float]
    stream_ratio: float = Field(description="Share of requests sent with stream_format=audio (these measure TTFA).")
    stack: str | None = None


class Summary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    engine: str = Field(description="The engine the host said it serves on /ready (sim, vllm-omni, ...), or unknown.")
    simulated: bool = Field(description="The figures are a simulator's: no capacity plan may be made from them.")
    started_at: str = Field(description="When Locust started (ISO 8601, UTC).")
    finished_at: str = Field(description="When Locust ended (ISO 8601, UTC).")
    parameters: RunParameters
    measured: Measured
    figures: list[FigureRow] = Field(description="RTF, time to first audio and whole-stream latency by text size.")
    verdicts: list[Verdict]
    passed: bool
    files: dict[str, str] = Field(description="Report files written beside summary.json, by role.")


def schema() -> dict[str, object]:
    """JSON schema of summary.json, for consumers that validate it (CI dashboards, our tests)."""
    return Summary.model_json_schema()


def dumps(summary: Summary, indent: int | None = 2) -> str:
    """summary.json's text; on one line (indent None) it is the line a master pod logs (`--log-summary`)."""
    return json.dumps(summary.model_dump(mode="json"), indent=indent)


def write(summary: Summary, path: Path) -> None:
    path.write_text(dumps(summary) + "\n", encoding="utf-8")
