"""Small PromQL text helpers, so rules and dashboard panels spell selectors, sums and buckets one way.

Every rule and panel of an environment selects the runtime's series by the labels Prometheus gives
the scraped Service's targets (`namespace`, `service`), which both the ServiceMonitor and the plain
scrape config set; two environments can therefore share one Prometheus.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from voxdeploy.contracts.metrics import Metric
from voxdeploy.infra.config.deployment import DeploymentConfig

GROUPING = ("namespace", "service")
"""Labels every service-level aggregate keeps: one series per environment."""


def target_labels(config: DeploymentConfig) -> dict[str, str]:
    """The target labels that identify this environment's runtime pods in Prometheus."""
    return {"namespace": config.namespace, "service": config.cloud.name}


def selector(labels: Mapping[str, str], **regex: str) -> str:
    """`{a="x",b=~"y"}`: equality matchers for labels, regex matchers for the keyword arguments."""
    matchers = [f'{key}="{value}"' for key, value in labels.items()]
    matchers += [f'{key}=~"{value}"' for key, value in regex.items()]
    return "{" + ",".join(matchers) + "}"


def aggregate(operator: str, grouping: Sequence[str], expr: str) -> str:
    """`sum by (a, b) (expr)`, or `sum (expr)` when nothing is kept."""
    keep = f" by ({', '.join(grouping)})" if grouping else ""
    return f"{operator}{keep} ({expr})"


def sum_rate(series: str, labels: Mapping[str, str], window: str, grouping: Sequence[str], **regex: str) -> str:
    """Per-second rate of a counter (or histogram part), summed over the pods."""
    return aggregate("sum", grouping, f"rate({series}{selector(labels, **regex)}[{window}])")


def ratio(part: str, whole: str) -> str:
    """`part / whole` as a share that reads 0 when nothing went wrong and is absent, not NaN, without traffic.

    A counter of failures has no series until the first failure, so a plain division answers nothing at all
    on a healthy service (a panel's "No data", a recording rule that looks broken): `or 0 * whole` gives the
    groups without failures a 0. With no traffic the share is undefined: `whole > 0` leaves it out instead of
    recording 0/0 = NaN. Both sides must be aggregated by the same labels.
    """
    return f"({part} or 0 * {whole}) / ({whole} > 0)"


def histogram_quantile(
    quantile: float, metric: Metric, labels: Mapping[str, str], window: str, grouping: Sequence[str], **regex: str
) -> str:
    """A quantile of a catalogue histogram over a window, across the pods."""
    bucket = metric.series[0]
    return f"histogram_quantile({quantile}, {sum_rate(bucket, labels, window, (*grouping, 'le'), **regex)})"


def quantile_breach(threshold: float, buckets: Sequence[float]) -> tuple[str, float]:
    """(comparison, limit) a histogram quantile breaches `threshold` by: `>` it; at or past the last finite bucket,
    `>=` that bound.

    histogram_quantile answers the last finite bound for any quantile that lies in the +Inf bucket, so a
    larger threshold could never be crossed and its alert would be dead: past the histogram's range the
    alert means "beyond what the histogram can measure" instead (a slow device, a short bucket list).
    """
    last = max(buckets)
    return (">=", last) if threshold >= last else (">", threshold)


def quantile_above(expr: str, threshold: float, buckets: Sequence[float]) -> str:
    """`expr` past `threshold` as quantile_breach reads it."""
    comparison, limit = quantile_breach(threshold, buckets)
    return f"{expr} {comparison} {number(limit)}"


def number(value: float) -> str:
    """A threshold as PromQL and people read it: 2 not 2.0, 0.001 not 0.0010000000000000009."""
    return f"{value:.12g}"


def le_value(bound: float) -> str:
    """A histogram bucket bound as Prometheus client libraries write `le` (2 -> "2.0", 0.05 -> "0.05")."""
    return repr(float(bound))


def bucket_at_or_below(buckets: Sequence[float], target: float) -> float:
    """The largest bucket bound not above target (the smallest bound if none is).

    A latency SLI can only count requests at a bucket bound; rounding down never counts a request
    slower than the target as good.
    """
    below = [bound for bound in buckets if bound <= target]
    return max(below) if below else min(buckets)
