"""Engine command lines derived from config; the pods and `voxdeploy serve` run the same argv."""

from __future__ import annotations

from infra.config.cloud import CloudTier
from infra.config.templating import render_lines


def vllm_omni_command(cloud: CloudTier) -> list[str]:
    """`vllm serve <model> --omni ...` for the cloud tier, from templates/engines/vllm-omni.args.j2."""
    return render_lines("engines/vllm-omni.args.j2", engine=cloud.engine, log_level=cloud.server.log_level)
