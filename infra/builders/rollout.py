"""The cloud tier as an Argo Rollouts canary: the Rollout, and the AnalysisTemplates that can abort it.

Argo Rollouts v1.9.1 (argoproj/argo-rollouts b6bd3bc): a Rollout takes a Deployment's selector, pod template and
replicas as they are (pkg/apis/rollouts/v1alpha1/types.go), so it is built from the Deployment this tier renders
anyway. Argo labels each version's pods `rollouts-pod-template-hash` (types.go DefaultRolloutUniqueLabelKey); the
ServiceMonitor copies that label onto the runtime's series (observability.scrape), and the SLO analysis selects the
canary's series by it, passed in as the `canary-hash` argument (`valueFrom.podTemplateHashValue: Latest`).

An analysis condition reads `result` as the list of a vector query's sample values (metricproviders/prometheus/
prometheus.go), so `result[0]` is the one aggregate each query answers. Each figure has a `failureCondition` only,
a breach of the SLO; Argo then counts every other measurement a success (utils/evaluate/evaluate.go). An empty
answer or NaN means no request reached the canary in the rate window (a quiet cluster between load tests, the
pauses after the load-test step): no evidence of a breach, where a success condition that refused it would abort
every release of a stack without traffic. The load-test step is what gives such a stack its traffic, and its
master's exit status judges the same SLO.
"""

from __future__ import annotations

from dataclasses import dataclass

from voxdeploy.contracts import metrics as catalog
from voxdeploy.infra.builders import cloud, loadtest, meta
from voxdeploy.infra.builders.workloads import KubeObject
from voxdeploy.infra.config.canary import HASH_TARGET_LABEL, ROLLOUT_API
from voxdeploy.infra.config.deployment import DeploymentConfig
from voxdeploy.infra.observability.promql import (
    histogram_quantile,
    number,
    quantile_breach,
    ratio,
    sum_rate,
    target_labels,
)
from voxdeploy.infra.observability.recording import error_codes

CANARY_HASH_ARG = "canary-hash"


@dataclass(frozen=True)
class SloCheck:
    """One figure the canary is judged on: a query answering one number, the stack's bound on it, and for a
    histogram quantile the histogram's buckets."""

    name: str
    query: str
    bound: float
    buckets: tuple[float, ...] = ()

    @property
    def ceiling(self) -> float | None:
        """The most a histogram quantile can answer: its last finite bucket."""
        return max(self.buckets) if self.buckets else None

    @property
    def failure_condition(self) -> str:
        """Measured and past the bound, as the alerts read a quantile (promql.quantile_breach)."""
        comparison, limit = quantile_breach(self.bound, self.buckets) if self.buckets else (">", self.bound)
        return f"len(result) > 0 && !isNaN(result[0]) && result[0] {comparison} {number(limit)}"


def slo_template_name(config: DeploymentConfig) -> str:
    return f"{config.cloud.name}-slo"


def loadtest_template_name(config: DeploymentConfig) -> str:
    return f"{config.cloud.name}-loadtest"


def slo_checks(config: DeploymentConfig, canary_hash: str = f"{{{{args.{CANARY_HASH_ARG}}}}}") -> list[SloCheck]:
    """The canary's p95 latency, p95 RTF and error ratio over the rate window; `canary_hash` is the template's
    argument, or a hash when a test runs the queries against its own Prometheus."""
    labels = {**target_labels(config), HASH_TARGET_LABEL: canary_hash}
    window, slo = catalog.RATE_WINDOW, config.slo
    (requests,) = catalog.REQUESTS.series
    errors = sum_rate(requests, labels, window, (), code=error_codes(config))
    return [
        SloCheck(
            "p95-latency",
            histogram_quantile(0.95, catalog.REQUEST_LATENCY, labels, window, ()),
            slo.p95_latency_seconds,
            catalog.REQUEST_LATENCY.buckets,
        ),
        SloCheck(
            "p95-rtf",
            histogram_quantile(0.95, catalog.REAL_TIME_FACTOR, labels, window, ()),
            slo.p95_rtf,
            catalog.REAL_TIME_FACTOR.buckets,
        ),
        SloCheck("error-ratio", ratio(errors, sum_rate(requests, labels, window, ())), slo.max_error_ratio),
    ]


def slo_template(config: DeploymentConfig) -> KubeObject:
    analysis = config.cloud.rollout.canary.analysis
    return {
        "apiVersion": ROLLOUT_API,
        "kind": "AnalysisTemplate",
        "metadata": meta.metadata(config, slo_template_name(config), cloud.identity(config).labels),
        "spec": {
            "args": [{"name": CANARY_HASH_ARG}],
            "metrics": [
                {
                    "name": check.name,
                    "interval": analysis.interval,
                    "initialDelay": analysis.initial_delay,
                    "failureLimit": analysis.failure_limit,
                    "failureCondition": check.failure_condition,
                    "provider": {"prometheus": {"address": analysis.prometheus_address, "query": check.query}},
                }
                for check in slo_checks(config)
            ],
        },
    }


def loadtest_template(config: DeploymentConfig) -> KubeObject:
    """The stack's load test as two `job` metrics of one analysis, which Argo runs at once: the master (its exit
    status the verdict) and its workers, which reach it through the master Service by its pods' labels."""
    return {
        "apiVersion": ROLLOUT_API,
        "kind": "AnalysisTemplate",
        "metadata": meta.metadata(config, loadtest_template_name(config), loadtest.identity(config).labels),
        "spec": {
            "metrics": [
                {"name": "loadtest-master", "provider": {"job": {"spec": loadtest.master_job_spec(config)}}},
                {"name": "loadtest-workers", "provider": {"job": {"spec": loadtest.worker_job_spec(config)}}},
            ]
        },
    }


def steps(config: DeploymentConfig) -> list[dict[str, object]]:
    canary = config.cloud.rollout.canary
    rendered: list[dict[str, object]] = []
    for index, step in enumerate(canary.steps):
        rendered.append({"setWeight": step.set_weight})
        if index == 0 and config.cloud.canary_runs_load_test:
            rendered.append({"analysis": {"templates": [{"templateName": loadtest_template_name(config)}]}})
        rendered.append({"pause": {} if step.pause is None else {"duration": step.pause}})
    return rendered


def rollout(config: DeploymentConfig) -> KubeObject:
    """The Deployment's selector, template and replicas under a canary strategy; Argo aborts (scales the canary
    away) when the deadline passes or the background analysis fails."""
    deployment = cloud.deployment(config)
    spec = dict(deployment["spec"])  # type: ignore[call-overload]
    update = spec.pop("strategy")["rollingUpdate"]
    spec["progressDeadlineAbort"] = True
    spec["strategy"] = {
        "canary": {
            "maxSurge": update["maxSurge"],
            "maxUnavailable": update["maxUnavailable"],
            "analysis": {
                "templates": [{"templateName": slo_template_name(config)}],
                "startingStep": 1,
                "args": [{"name": CANARY_HASH_ARG, "valueFrom": {"podTemplateHashValue": "Latest"}}],
            },
            "steps": steps(config),
        }
    }
    return {"apiVersion": ROLLOUT_API, "kind": "Rollout", "metadata": deployment["metadata"], "spec": spec}


def rollout_objects(config: DeploymentConfig) -> list[KubeObject]:
    """The templates before the Rollout that names them."""
    templates = [slo_template(config)]
    if config.cloud.canary_runs_load_test:
        templates.append(loadtest_template(config))
    return [*templates, rollout(config)]
