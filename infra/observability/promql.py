"""Small PromQL text helpers, so rules and dashboard panels spell selectors and buckets one way.

Every rule and panel of an environment selects the runtime's series by the labels Prometheus gives
the scraped Service's targets (`namespace`, `service`), which both the ServiceMonitor and the plain
scrape config set; two environments can therefore share one Prometheus.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from infra.config.deployment import DeploymentConfig

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


def by(*labels: str) -> str:
    """`by (a, b)` for aggregations."""
    return f"by ({', '.join(labels)})"


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
