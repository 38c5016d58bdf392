"""report.html: what a person wants to see after a load test, plots inline so the file travels alone."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from voxdeploy.contracts.slo import SloTargets
from voxdeploy.loadtests.results import RequestRecord, percentile
from voxdeploy.loadtests.summary import Summary

REQUESTS_PER_WINDOW = 20
"""Requests a window of the over-time plots holds on average: a p95 of 3 requests (per-second buckets at 3 req/s)
zig-zags between the fastest and the slowest request and says nothing."""
SPARSE_WINDOW = 5
"""Windows with fewer requests than this (the ramp, the tail) are not drawn as percentiles."""
WINDOW_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600)


def window_seconds(records: Sequence[RequestRecord]) -> int:
    """The shortest round window that holds REQUESTS_PER_WINDOW requests at the run's mean rate."""
    if not records:
        return WINDOW_STEPS[0]
    duration = max(r.start + r.latency for r in records) - min(r.start for r in records)
    wanted = duration * REQUESTS_PER_WINDOW / len(records)
    return next((step for step in WINDOW_STEPS if step >= wanted), WINDOW_STEPS[-1])


def _bins(records: Sequence[RequestRecord], started: float, window: int) -> dict[float, list[RequestRecord]]:
    """Records by the window (its middle, in seconds since the run started) in which they finished."""
    bins: dict[float, list[RequestRecord]] = {}
    for record in records:
        index = int((record.start + record.latency - started) // window)
        bins.setdefault(index * window + window / 2, []).append(record)
    return dict(sorted(bins.items()))


def unit(field: str) -> str:
    """The unit of a figure of summary.json's `measured`, by its name."""
    if field.startswith(("latency_", "ttfa_")) or field.endswith("_seconds"):
        return "s"
    if field.startswith("rtf_"):
        return "x (synthesis time / audio duration)"
    if field in ("qps", "goodput"):
        return "requests/s"
    if field == "error_ratio":
        return "failed / all"
    return "requests"


def _png(draw: Callable[[plt.Axes], None], title: str) -> str:
    figure, axes = plt.subplots(figsize=(8, 3.2), dpi=100)
    draw(axes)
    axes.set_title(title)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return (
        f'<img alt="{html.escape(title)}" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'
    )


def percentile_series(
    bins: dict[float, list[RequestRecord]], value: Callable[[RequestRecord], float | None], q: float
) -> tuple[list[float], list[float]]:
    """One point per window with enough successful requests to have a percentile worth drawing."""
    xs, ys = [], []
    for middle, group in bins.items():
        values = [v for r in group if r.ok and (v := value(r)) is not None]
        if len(values) >= SPARSE_WINDOW:
            xs.append(middle)
            ys.append(percentile(values, q) or 0.0)
    return xs, ys


def _slo_line(axes: plt.Axes, bound: float, label: str) -> None:
    axes.axhline(bound, color="#b00", linestyle="--", linewidth=1, label=label)


def plots(records: Sequence[RequestRecord], started: float, slo: SloTargets) -> list[str]:
    window = window_seconds(records)
    bins = _bins(records, started, window)
    x_label = f"seconds since start (windows of {window} s, >= {SPARSE_WINDOW} requests each)"

    def over_time(
        value: Callable[[RequestRecord], float | None], y_label: str, bound: float, bound_label: str
    ) -> Callable[[plt.Axes], None]:
        def draw(axes: plt.Axes) -> None:
            for q in (50, 95, 99):
                axes.plot(*percentile_series(bins, value, q), marker=".", label=f"p{q}")
            _slo_line(axes, bound, bound_label)
            axes.set_xlabel(x_label)
            axes.set_ylabel(y_label)
            axes.legend()

        return draw

    def throughput(axes: plt.Axes) -> None:
        middles = list(bins)
        axes.plot(middles, [sum(r.ok for r in bins[m]) / window for m in middles], marker=".", label="requests/s")
        axes.plot(middles, [sum(not r.ok for r in bins[m]) / window for m in middles], marker=".", label="failures/s")
        _slo_line(axes, slo.min_qps, f"SLO minQps {slo.min_qps:g}")
        axes.set_xlabel(f"seconds since start (windows of {window} s)")
        axes.set_ylabel("requests/s")
        axes.legend()

    def histogram(
        values: list[float], x_label: str, bound: float | None, bound_label: str
    ) -> Callable[[plt.Axes], None]:
        def draw(axes: plt.Axes) -> None:
            if values:
                axes.hist(values, bins=30)
            if bound is not None:
                axes.axvline(bound, color="#b00", linestyle="--", linewidth=1, label=bound_label)
                axes.legend()
            axes.set_xlabel(x_label)
            axes.set_ylabel("requests")

        return draw

    latency_bound = f"SLO p95LatencySeconds {slo.p95_latency_seconds:g} s"
    rtf_bound = f"SLO p95Rtf {slo.p95_rtf:g}"
    return [
        _png(
            over_time(lambda r: r.latency, "latency (s)", slo.p95_latency_seconds, latency_bound),
            "Latency percentiles over time",
        ),
        _png(over_time(lambda r: r.rtf, "RTF (x)", slo.p95_rtf, rtf_bound), "Real-time factor percentiles over time"),
        _png(throughput, "Requests and failures per second"),
        _png(
            histogram([r.rtf for r in records if r.rtf is not None], "RTF (x)", slo.p95_rtf, rtf_bound),
            "Distribution of RTF",
        ),
        _png(
            histogram([r.ttfa for r in records if r.ttfa is not None], "time to first audio (s)", None, ""),
            "Distribution of time to first audio (streamed requests)",
        ),
    ]


def write(path: Path, summary: Summary, records: Sequence[RequestRecord], started: float, slo: SloTargets) -> None:
    rows = "".join(
        f"<tr><td>{html.escape(v.target)}</td><td>{html.escape(v.description)}</td>"
        f"<td>{v.comparison} {v.threshold:g}</td>"
        f"<td>{'n/a' if v.measured is None else f'{v.measured:.4g}'}</td>"
        f"<td class={'pass' if v.passed else 'fail'}>{'PASS' if v.passed else 'FAIL'}</td></tr>"
        for v in summary.verdicts
    )
    figures = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{'n/a' if v is None else f'{v:.4g}'}</td>"
        f"<td>{html.escape(unit(k))}</td></tr>"
        for k, v in summary.measured.model_dump().items()
    )
    speech = "".join(
        f"<tr><td>{html.escape(row.figure)}</td><td>{html.escape(row.size)}</td><td>{row.count}</td>"
        + "".join(f"<td>{getattr(row, q):.4g}</td>" for q in ("mean", "p50", "p95", "p99", "max"))
        + f"<td>{html.escape(row.unit)}</td></tr>"
        for row in summary.figures
    )
    engine = summary.engine + (" (simulator: not VoxCPM2's figures)" if summary.simulated else "")
    params = html.escape(summary.parameters.model_dump_json(indent=2))
    verdict = "PASSED" if summary.passed else "FAILED"
    path.write_text(
        f"""<!doctype html>
<html><head><meta charset="utf-8"><title>voxdeploy load test: {verdict}</title>
<style>body{{font-family:sans-serif;max-width:900px;margin:2em auto}}td,th{{padding:4px 10px;text-align:left}}
.pass{{color:#060}}.fail{{color:#b00;font-weight:bold}}table{{border-collapse:collapse}}tr:nth-child(even){{background:#f4f4f4}}</style>
</head><body>
<h1>Load test {verdict}</h1>
<p>Engine: <b>{html.escape(engine)}</b> at {html.escape(summary.parameters.host)};
run from {html.escape(summary.started_at)} to {html.escape(summary.finished_at)} (UTC).</p>
<h2>Gate</h2><table><tr><th>target</th><th>what</th><th>bound</th><th>measured</th><th>result</th></tr>{rows}</table>
<h2>Figures</h2><table><tr><th>figure</th><th>value</th><th>unit</th></tr>{figures}</table>
<h2>Speech figures by text size</h2><table><tr><th>figure</th><th>size</th><th>requests</th><th>mean</th>
<th>p50</th><th>p95</th><th>p99</th><th>max</th><th>unit</th></tr>{speech}</table>
<h2>Over time</h2>{"".join(plots(records, started, slo))}
<h2>Parameters</h2><pre>{params}</pre>
<p>Locust's own report: <a href="locust.html">locust.html</a>; raw records: requests.jsonl.</p>
</body></html>
""",
        encoding="utf-8",
    )
