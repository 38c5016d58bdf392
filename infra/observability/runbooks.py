"""Runbooks rendered from templates/runbooks/: the article's troubleshooting guides plus one per alert.

They are rendered per environment, so each page shows that stack's real thresholds, its exact
`vllm serve` command line and the config keys to change; every alert's `runbook_url` points at its page.
"""

from __future__ import annotations

import shlex

from infra import metrics_catalog
from infra.builders import cloud
from infra.config.deployment import DeploymentConfig
from infra.config.engine_command import vllm_omni_command
from infra.config.templating import render
from infra.observability.alerts import alert_rules, availability_budget, latency_budget
from infra.observability.recording import latency_sli_bound

GUIDES = {
    "cuda-out-of-memory": "CUDA out of memory",
    "slow-inference": "Slow inference",
    "degraded-audio-quality": "Degraded audio quality",
}
"""Troubleshooting guides from the reference article (symptoms, causes, concrete steps), by page and title."""
INDEX = "README.md"


def _context(config: DeploymentConfig) -> dict[str, object]:
    selector = cloud.identity(config).selector
    return {
        "config": config,
        "metrics": metrics_catalog,
        "selector": ",".join(f"{key}={value}" for key, value in selector.items()),
        "vllm_command": shlex.join(vllm_omni_command(config.cloud)),
        "availability_budget": availability_budget(config),
        "latency_budget": latency_budget(config),
        "latency_bound": latency_sli_bound(config),
    }


def render_runbooks(config: DeploymentConfig) -> dict[str, str]:
    """File name -> Markdown: the guides, one page per alert of this environment, and an index."""
    context = _context(config)
    files = {f"{guide}.md": render(f"runbooks/{guide}.md.j2", **context) for guide in GUIDES}
    alerts = alert_rules(config)
    for alert in alerts:
        template = f"runbooks/{alert.template or alert.runbook}.md.j2"
        files[f"{alert.runbook}.md"] = render(template, alert=alert, **context)
    files[INDEX] = render("runbooks/index.md.j2", alerts=alerts, guides=GUIDES, **context)
    return files
