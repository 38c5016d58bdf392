"""A dashboard panel as data: title, unit, queries and the threshold line, with no Grafana JSON in sight.

Every tier's module lists its own panels this way (dashboard.py, router.py); dashboard.py lays them out.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Query:
    legend: str
    expr: str


@dataclass(frozen=True)
class Panel:
    """One time-series panel; `threshold` draws the alert or SLO line."""

    title: str
    unit: str
    description: str
    queries: tuple[Query, ...]
    threshold: float | None = None
