"""The figures of a speech run that are not requests: real-time factor, time to first audio and whole-stream
latency, by text size.

Locust's request table counts what its clients send; these come from the same requests, so they are kept out of it
(as request events they tripled Locust's RPS and its Aggregated row) and shown in their own table: in the web UI's
"Speech figures" tab, in `voxdeploy_figures.csv`, in summary.json and in report.html. Pure functions over the
per-request records, so a master computes them over every worker's records alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from voxdeploy.loadtests.results import percentile

Record = Mapping[str, Any]


class FigureRow(BaseModel):
    """One figure for one text size (or all sizes: size "all"), over the successful requests that have it."""

    model_config = ConfigDict(extra="forbid")

    figure: str = Field(description="RTF, TTFA (streamed requests) or E2E stream (streamed requests' whole latency).")
    size: str
    unit: str = Field(description="'x' for a ratio (synthesis time / audio duration), 's' for seconds.")
    count: int
    mean: float
    p50: float
    p95: float
    p99: float
    max: float


FIGURES: tuple[tuple[str, str, Callable[[Record], float | None]], ...] = (
    ("RTF", "x", lambda r: r["rtf"]),
    ("TTFA", "s", lambda r: r["ttfa"] if r["streamed"] else None),
    ("E2E stream", "s", lambda r: r["latency"] if r["streamed"] else None),
)
"""(name, unit, value of a successful record or None): the one list every table of figures is made from."""

CSV_COLUMNS = ("figure", "size", "unit", "count", "mean", "p50", "p95", "p99", "max")


def _row(figure: str, size: str, unit: str, values: Sequence[float]) -> FigureRow:
    def q(p: float) -> float:
        value = percentile(values, p)
        assert value is not None
        return value

    return FigureRow(
        figure=figure,
        size=size,
        unit=unit,
        count=len(values),
        mean=sum(values) / len(values),
        p50=q(50),
        p95=q(95),
        p99=q(99),
        max=max(values),
    )


def figure_rows(records: Sequence[Record]) -> list[FigureRow]:
    """Each figure by size (in the order sizes first appear), then over all sizes; figures nobody measured are left
    out."""
    rows = []
    good = [r for r in records if r["ok"]]
    sizes = list(dict.fromkeys(str(r["size"]) for r in good))
    for figure, unit, value in FIGURES:
        every: list[float] = []
        for size in sizes:
            values = [v for r in good if r["size"] == size and (v := value(r)) is not None]
            if values:
                rows.append(_row(figure, size, unit, values))
                every += values
        if every:
            rows.append(_row(figure, "all", unit, every))
    return rows


def figures_csv(rows: Sequence[FigureRow]) -> str:
    lines = [",".join(CSV_COLUMNS)]
    for row in rows:
        cells = row.model_dump()
        lines.append(",".join(f"{cells[c]:.6g}" if isinstance(cells[c], float) else str(cells[c]) for c in CSV_COLUMNS))
    return "\n".join(lines) + "\n"
