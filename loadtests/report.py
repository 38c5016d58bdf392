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

from voxdeploy.loadtests.results import RequestRecord, percentile
from voxdeploy.loadtests.summary import Summary

BIN_SECONDS = 1.0


def _bins(records: Sequence[RequestRecord], started: float) -> dict[int, list[RequestRecord]]:
    """Records by the second (since the run started) in which they finished."""
    bins: dict[int, list[RequestRecord]] = {}
    for record in records:
        bins.setdefault(int((record.start + record.latency - started) // BIN_SECONDS), []).append(record)
    return dict(sorted(bins.items()))


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


def _percentile_series(
    bins: dict[int, list[RequestRecord]], value: Callable[[RequestRecord], float | None], q: float
) -> tuple[list[int], list[float]]:
    xs, ys = [], []
    for second, group in bins.items():
        point = percentile([v for r in group if r.ok and (v := value(r)) is not None], q)
        if point is not None:
            xs.append(second)
            ys.append(point)
    return xs, ys


def plots(records: Sequence[RequestRecord], started: float) -> list[str]:
    bins = _bins(records, started)

    def over_time(value: Callable[[RequestRecord], float | None], unit: str) -> Callable[[plt.Axes], None]:
        def draw(axes: plt.Axes) -> None:
            for q in (50, 95, 99):
                axes.plot(*_percentile_series(bins, value, q), label=f"p{q}")
            axes.set_xlabel("seconds since start")
            axes.set_ylabel(unit)
            axes.legend()

        return draw

    def throughput(axes: plt.Axes) -> None:
        seconds = list(bins)
        axes.plot(seconds, [sum(r.ok for r in bins[s]) / BIN_SECONDS for s in seconds], label="requests/s")
        axes.plot(seconds, [sum(not r.ok for r in bins[s]) / BIN_SECONDS for s in seconds], label="failures/s")
        axes.set_xlabel("seconds since start")
        axes.legend()

    def histogram(values: list[float], unit: str) -> Callable[[plt.Axes], None]:
        def draw(axes: plt.Axes) -> None:
            if values:
                axes.hist(values, bins=30)
            axes.set_xlabel(unit)
            axes.set_ylabel("requests")

        return draw

    return [
        _png(over_time(lambda r: r.latency, "seconds"), "Latency percentiles over time"),
        _png(over_time(lambda r: r.rtf, "RTF"), "Real-time factor percentiles over time"),
        _png(throughput, "Requests and failures per second"),
        _png(histogram([r.rtf for r in records if r.rtf is not None], "RTF"), "Distribution of RTF"),
        _png(
            histogram([r.ttfa for r in records if r.ttfa is not None], "seconds"),
            "Distribution of time to first audio (streamed requests)",
        ),
    ]


def write(path: Path, summary: Summary, records: Sequence[RequestRecord], started: float) -> None:
    rows = "".join(
        f"<tr><td>{html.escape(v.target)}</td><td>{html.escape(v.description)}</td>"
        f"<td>{v.comparison} {v.threshold:g}</td>"
        f"<td>{'n/a' if v.measured is None else f'{v.measured:.4g}'}</td>"
        f"<td class={'pass' if v.passed else 'fail'}>{'PASS' if v.passed else 'FAIL'}</td></tr>"
        for v in summary.verdicts
    )
    figures = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{'n/a' if v is None else f'{v:.4g}'}</td></tr>"
        for k, v in summary.measured.model_dump().items()
    )
    params = html.escape(summary.parameters.model_dump_json(indent=2))
    verdict = "PASSED" if summary.passed else "FAILED"
    path.write_text(
        f"""<!doctype html>
<html><head><meta charset="utf-8"><title>voxdeploy load test: {verdict}</title>
<style>body{{font-family:sans-serif;max-width:900px;margin:2em auto}}td,th{{padding:4px 10px;text-align:left}}
.pass{{color:#060}}.fail{{color:#b00;font-weight:bold}}table{{border-collapse:collapse}}tr:nth-child(even){{background:#f4f4f4}}</style>
</head><body>
<h1>Load test {verdict}</h1>
<h2>Gate</h2><table><tr><th>target</th><th>what</th><th>bound</th><th>measured</th><th>result</th></tr>{rows}</table>
<h2>Figures</h2><table>{figures}</table>
<h2>Over time</h2>{"".join(plots(records, started))}
<h2>Parameters</h2><pre>{params}</pre>
<p>Locust's own report: <a href="locust.html">locust.html</a>; raw records: requests.jsonl.</p>
</body></html>
""",
        encoding="utf-8",
    )
