"""Runbooks rendered from templates/runbooks/: the article's troubleshooting guides plus one per alert.

They are rendered per environment, so each shows that stack's real thresholds, its exact `vllm serve`
command line and the config keys to change; `runbook_url` of every alert points at its page.
"""

from __future__ import annotations

import shlex

from infra.config.deployment import DeploymentConfig
from infra.config.engine_command import vllm_omni_command
from infra.config.templating import render
from infra.observability.alerts import alert_rules, as_rule

GUIDES = ("cuda-out-of-memory", "slow-inference", "degraded-audio-quality")
"""Troubleshooting guides from the reference article (symptoms, causes, concrete steps)."""
INDEX = "README.md"


def render_runbooks(config: DeploymentConfig) -> dict[str, str]:
    """File name -> Markdown: the guides, one page per alert of this environment, and an index."""
    context = {"config": config, "vllm_command": shlex.join(vllm_omni_command(config.cloud))}
    files = {f"{guide}.md": render(f"runbooks/{guide}.md.j2", **context) for guide in GUIDES}
    alerts = alert_rules(config)
    for alert in alerts:
        files[f"{alert.runbook}.md"] = render(
            f"runbooks/{alert.runbook}.md.j2", alert=alert, rule=as_rule(alert, config), **context
        )
    files[INDEX] = render("runbooks/index.md.j2", alerts=alerts, guides=GUIDES, **context)
    return files
