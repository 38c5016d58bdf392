"""Upstream files kept as fixtures (source, commit and license in each file's header)."""

from __future__ import annotations

import yaml

from tests.support.stacks import REPO

VOXCPM2_DEPLOY = REPO / "tests" / "fixtures" / "upstream" / "vllm-omni-voxcpm2-deploy.yaml"
"""vLLM-Omni's own vllm_omni/deploy/voxcpm2.yaml."""


def voxcpm2_deploy_stages() -> list[dict]:
    """The stages of vLLM-Omni's VoxCPM2 deploy file."""
    return yaml.safe_load(VOXCPM2_DEPLOY.read_text())["stages"]
