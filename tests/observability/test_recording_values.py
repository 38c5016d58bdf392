"""`promtool test rules` of what the ratio recording rules answer, not only of the alerts reading them.

A healthy service must read 0 (not "No data": a counter of failures has no series before the first
failure), a service without traffic must have no ratio at all (not NaN), and 429s count as failed
requests exactly when `objectives.shedLoadIsError` says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest

from tests.support.alert_cases import (
    PER_MINUTE,
    Series,
    alert_labels,
    bucket_below,
    counter,
    histogram,
    router_pod_labels,
    runtime_labels,
    steady,
)
from tests.support.observability import config_named, run_unit_tests
from voxdeploy.contracts import metrics as catalog
from voxdeploy.contracts.metrics import RATE_WINDOW
from voxdeploy.infra.config import DeploymentConfig
from voxdeploy.infra.observability import router
from voxdeploy.infra.observability.recording import error_ratio, latency_sli_bound, slow_ratio
from voxdeploy.infra.observability.scope import RuntimeScope, cloud_scope, edge_scope
from voxdeploy.infra.observability.watch import recording_rules

AT = 10
"""Minute the recorded series are read at: a full RATE_WINDOW of input lies behind it."""


def expr_test(name: str, series: Sequence[Series], expected: Mapping[str, Sequence[tuple[Mapping, float]]]) -> dict:
    """One promtool test: each recorded series (by name) must hold exactly the given (labels, value) samples."""
    checks = [
        {
            "expr": recorded,
            "eval_time": f"{AT}m",
            "exp_samples": [
                {"labels": recorded + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}", "value": value}
                for labels, value in samples
            ],
        }
        for recorded, samples in expected.items()
    ]
    return {
        "name": name,
        "interval": "1m",
        "input_series": [s.promtool(AT) for s in series],
        "promql_expr_test": checks,
    }


def answered(scope: RuntimeScope, per_minute: Mapping[str, float]) -> list[Series]:
    """Requests counted by status code, the same number each minute (0: the series exists, nothing comes)."""
    (requests,) = catalog.REQUESTS.series
    return [counter(requests, {**runtime_labels(scope), "code": code}, steady(n)) for code, n in per_minute.items()]


def timed(scope: RuntimeScope, config: DeploymentConfig, per_minute: float) -> list[Series]:
    """The latency histogram with every request within the latency SLO's bound."""
    fast = bucket_below(catalog.REQUEST_LATENCY.buckets, latency_sli_bound(config)).inside
    observed = steady({fast: per_minute} if per_minute else {})
    return histogram(catalog.REQUEST_LATENCY, runtime_labels(scope), observed)


def runtime_tests(scope: RuntimeScope, config: DeploymentConfig) -> list[dict]:
    """The error ratio always; the latency SLO's slow ratio where the scope's burn-rate alerts record it."""
    recorded = {rule["record"] for rule in recording_rules(config)}
    errors, slow = error_ratio(RATE_WINDOW), slow_ratio(RATE_WINDOW)
    assert errors in recorded and (slow in recorded) == scope.slo_budgets
    ratios = [errors, slow] if scope.slo_budgets else [errors]
    service = alert_labels(scope)
    shed_share = 0.25  # a share promtool's exact comparison can hold: 0.1 came out as 0.09999999999999999
    shed = shed_share if config.observability.objectives.shed_load_is_error else 0.0
    return [
        expr_test(
            "healthy: only 200s, all fast, read 0",
            answered(scope, {"200": PER_MINUTE}) + timed(scope, config, PER_MINUTE),
            {ratio: [(service, 0.0)] for ratio in ratios},
        ),
        expr_test(
            "no traffic: no ratio at all, not NaN",
            answered(scope, {"200": 0.0, "500": 0.0}) + timed(scope, config, 0.0),
            {ratio: [] for ratio in ratios},
        ),
        expr_test(
            "shed load counted as objectives.shedLoadIsError says; other 4xx never",
            answered(
                scope,
                {
                    "200": PER_MINUTE * (1 - 2 * shed_share),
                    "429": PER_MINUTE * shed_share,
                    "400": PER_MINUTE * shed_share,
                },
            ),
            {errors: [(service, shed)]},
        ),
    ]


SHED_LOAD_IGNORED = {"observability": {"objectives": {"shedLoadIsError": False}}}


@pytest.mark.parametrize(
    ("config", "scope_of"),
    [
        (DeploymentConfig(), cloud_scope),
        (DeploymentConfig.model_validate(SHED_LOAD_IGNORED), cloud_scope),
        (config_named("edge"), edge_scope),
    ],
    ids=["cloud", "cloud-429-not-an-error", "edge"],
)
def test_runtime_ratios_read_0_when_healthy_and_nothing_without_traffic(
    config: DeploymentConfig, scope_of: Callable[[DeploymentConfig], RuntimeScope | None], promtool: str, tmp_path: Path
) -> None:
    scope = scope_of(config)
    assert scope is not None
    assert "SUCCESS" in run_unit_tests(promtool, config, runtime_tests(scope, config), tmp_path)


def test_router_ratios_read_0_without_failures_or_fallbacks(promtool: str, tmp_path: Path) -> None:
    """A healthy router has no 503 series of its own and no fallback series at all."""
    config = config_named("hybrid")
    (requests,) = catalog.ROUTER_REQUESTS.series
    served = counter(requests, {**router_pod_labels(config), "tier": "cloud", "code": "200"}, steady(PER_MINUTE))
    labels = router.router_labels(config)
    test = expr_test(
        "healthy router",
        [served],
        {router.UNAVAILABLE_RATIO: [(labels, 0.0)], router.FALLBACK_RATIO: [(labels, 0.0)]},
    )
    assert "SUCCESS" in run_unit_tests(promtool, config, [test], tmp_path)
