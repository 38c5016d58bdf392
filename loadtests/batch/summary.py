"""What a batch run took and made: the figures its closing line prints and summary.json keeps."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from pydantic import BaseModel, Field

from voxdeploy.loadtests.batch.store import Outcome
from voxdeploy.loadtests.results import percentile


class BatchSummary(BaseModel):
    requests: int = Field(description="Requests of this shard of the batch.")
    skipped: int = Field(description="Done by an earlier run (file in place), not sent again.")
    succeeded: int = Field(description="Made by this run.")
    failed: int
    failures_by_cause: dict[str, int]
    retries: int = Field(description="Attempts beyond the first (429/503 waits and retried failures).")
    audio_hours: float = Field(description="Audio made by this run.")
    wall_seconds: float
    audio_hours_per_hour: float = Field(description="Audio hours made per wall-clock hour: the batch's speed.")
    requests_per_second: float
    rtf_p50: float | None
    rtf_p90: float | None
    rtf_p99: float | None
    final_concurrency: int
    host: str
    engine: str | None = Field(None, description="The server's X-Voxdeploy-Engine (sim: a simulator), if it says.")


def summarize(
    outcomes: Sequence[Outcome],
    requests: int,
    skipped: int,
    wall_seconds: float,
    concurrency: int,
    host: str,
    engine: str | None,
) -> BatchSummary:
    made = [o for o in outcomes if o.ok]
    rtfs = [o.rtf for o in made if o.rtf is not None]
    audio_hours = sum(o.audio_seconds or 0.0 for o in made) / 3600
    wall = max(wall_seconds, 1e-9)
    return BatchSummary(
        requests=requests,
        skipped=skipped,
        succeeded=len(made),
        failed=len(outcomes) - len(made),
        failures_by_cause=dict(Counter(o.cause or "unknown" for o in outcomes if not o.ok)),
        retries=sum(o.attempts - 1 for o in outcomes),
        audio_hours=round(audio_hours, 6),
        wall_seconds=round(wall_seconds, 3),
        audio_hours_per_hour=round(audio_hours / (wall / 3600), 3),
        requests_per_second=round(len(outcomes) / wall, 3),
        rtf_p50=percentile(rtfs, 50),
        rtf_p90=percentile(rtfs, 90),
        rtf_p99=percentile(rtfs, 99),
        final_concurrency=concurrency,
        host=host,
        engine=engine,
    )


def lines(summary: BatchSummary) -> list[str]:
    """The summary as a person reads it at the end of a run."""

    def rtf(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    causes = ", ".join(f"{cause} {count}" for cause, count in sorted(summary.failures_by_cause.items())) or "none"
    return [
        f"requests     {summary.requests} ({summary.skipped} done before, {summary.succeeded} made now, "
        f"{summary.failed} failed, {summary.retries} retries)",
        f"audio        {summary.audio_hours * 3600:.1f} s ({summary.audio_hours:.4f} h)",
        f"wall time    {summary.wall_seconds:.1f} s; {summary.audio_hours_per_hour:.2f} audio-hours per hour, "
        f"{summary.requests_per_second:.2f} requests/s at concurrency {summary.final_concurrency}",
        f"RTF          p50 {rtf(summary.rtf_p50)}  p90 {rtf(summary.rtf_p90)}  p99 {rtf(summary.rtf_p99)}",
        f"failures     {causes}",
        f"server       {summary.host} (engine: {summary.engine or 'not stated'})",
    ]
