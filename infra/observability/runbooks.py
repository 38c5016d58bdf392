"""Runbooks rendered from templates/runbooks/: the article's troubleshooting guides plus one per alert.

They are rendered per environment, so each page shows that stack's real thresholds, its exact
`vllm serve` command line, its edge pools and router endpoints, and the config keys to change; every
alert's `runbook_url` points at its page.
"""

from __future__ import annotations

import shlex

from voxdeploy.contracts import engine_metrics as engine_catalog
from voxdeploy.contracts import metrics as metrics_catalog
from voxdeploy.contracts.model import VOXCPM2_SAMPLE_RATE
from voxdeploy.infra.builders import cloud, edge, hybrid, meta
from voxdeploy.infra.builders.engine_command import vllm_omni_command
from voxdeploy.infra.config.deployment import DeploymentConfig
from voxdeploy.infra.config.templating import render
from voxdeploy.infra.observability.alerts import availability_budget, latency_budget
from voxdeploy.infra.observability.recording import failures, latency_sli_bound
from voxdeploy.infra.observability.scope import edge_scope
from voxdeploy.infra.observability.watch import Watch, alert_rules, watches

GUIDES = {
    "cuda-out-of-memory": "CUDA out of memory",
    "slow-inference": "Slow inference",
    "degraded-audio-quality": "Degraded audio quality",
}
"""Troubleshooting guides from the reference article (symptoms, causes, concrete steps), by page and title."""
INDEX = "README.md"
SETTINGS = {"cloud": "alerts", "edge": "alerts → edge", "hybrid": "alerts → router"}
"""Where each concern's alert settings live under `voxdeploy:observability` in the stack file."""


def _kubectl_selector(labels: dict[str, str], instances: list[str] | None = None) -> str:
    """A `kubectl -l` selector: equality on labels, plus set-based `in` over instances when given."""
    terms = [f"{key}={value}" for key, value in labels.items()]
    if instances:
        terms.append(f"app.kubernetes.io/instance in ({','.join(instances)})")
    return ",".join(terms)


def _watched(watch: Watch) -> str:
    """A runbook header's 'what this watches'."""
    kinds = {"cloud": "service", "edge": "edge pools", "hybrid": "router"}
    return f"{kinds[watch.concern]} {', '.join(f'`{service}`' for service in watch.services)}"


def _workload_commands(config: DeploymentConfig) -> dict[str, str]:
    """kubectl for the object that runs the cloud pods: a Deployment, or an Argo Rollouts Rollout (its kubectl
    plugin undoes one; an undo of a canary in progress is `abort`)."""
    namespace, name = config.namespace, config.cloud.name
    if config.cloud.canary:
        return {
            "workload_kind": "Rollout",
            "rollback": f"kubectl argo rollouts abort {name} -n {namespace}` during a canary, "
            f"`kubectl argo rollouts undo {name} -n {namespace}` after one",
            "describe_workload": f"kubectl -n {namespace} describe rollout {name}",
        }
    return {
        "workload_kind": "Deployment",
        "rollback": f"kubectl -n {namespace} rollout undo deployment/{name}",
        "describe_workload": f"kubectl -n {namespace} describe deployment {name}",
    }


def _context(config: DeploymentConfig) -> dict[str, object]:
    selector = cloud.identity(config).selector
    instances = [meta.instance(config, edge.pool_name(pool)) for pool in config.edge.pools]
    return {
        "config": config,
        "metrics": metrics_catalog,
        "engine_metrics": engine_catalog,
        "sample_rate": VOXCPM2_SAMPLE_RATE,
        "selector": ",".join(f"{key}={value}" for key, value in selector.items()),
        "vllm_command": shlex.join(vllm_omni_command(config.cloud)),
        "availability_budget": availability_budget(config),
        "latency_budget": latency_budget(config),
        "latency_bound": latency_sli_bound(config),
        "failures": failures(config),
        "watched": {watch.concern: _watched(watch) for watch in watches(config)},
        "settings_path": SETTINGS,
        "edge": edge_scope(config),
        "edge_selector": _kubectl_selector({"app.kubernetes.io/component": edge.COMPONENT}, instances),
        "router_selector": _kubectl_selector(hybrid.identity(config).selector),
        "router_endpoints": hybrid.router_settings(config).endpoints if config.hybrid.enabled else {},
        **_workload_commands(config),
    }


def render_runbooks(config: DeploymentConfig) -> dict[str, str]:
    """File name -> Markdown: the guides, one page per alert of this environment, and an index."""
    context = _context(config)
    guides = GUIDES if config.cloud.enabled else {}  # they troubleshoot vLLM-Omni on the cloud GPUs
    files = {f"{guide}.md": render(f"runbooks/{guide}.md.j2", **context) for guide in guides}
    alerts = alert_rules(config)
    for alert in alerts:
        template = f"runbooks/{alert.template or alert.runbook}.md.j2"
        files[f"{alert.runbook}.md"] = render(template, alert=alert, **context)
    files[INDEX] = render("runbooks/index.md.j2", alerts=alerts, guides=guides, **context)
    return files
