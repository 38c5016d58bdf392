"""summary.json: the machine-readable result of a run (parameters, figures, verdicts), with a JSON schema."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from voxdeploy.loadtests.gate import Verdict
from voxdeploy.loadtests.results import Measured

SCHEMA_VERSION = 1


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
    parameters: RunParameters
    measured: Measured
    verdicts: list[Verdict]
    passed: bool
    files: dict[str, str] = Field(description="Report files written beside summary.json, by role.")


def schema() -> dict[str, object]:
    """JSON schema of summary.json, for consumers that validate it (CI dashboards, our tests)."""
    return Summary.model_json_schema()


def write(summary: Summary, path: Path) -> None:
    path.write_text(json.dumps(summary.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
