"""Engine command lines derived from config; the pods and `voxdeploy serve` run the same argv."""

from __future__ import annotations

from voxdeploy.infra.config.cloud import CloudTier
from voxdeploy.infra.config.edge import EdgePool
from voxdeploy.infra.config.templating import render_lines

EDGE_MODEL_DIR = "/models"
"""Where an edge pod mounts its pool's GGUF files (read-only)."""


def vllm_omni_command(cloud: CloudTier) -> list[str]:
    """`vllm serve <model> --omni ...` for the cloud tier, from templates/engines/vllm-omni.args.j2."""
    return render_lines(
        "engines/vllm-omni.args.j2",
        engine=cloud.engine,
        model_path=cloud.model_path,
        log_level=cloud.server.log_level,
        startup_seconds=cloud.pod.probes.max_startup_seconds,
    )


def llamacpp_command(pool: EdgePool, cores: int, port: int) -> list[str]:
    """`llama-tts-server ...` for an edge pool, from templates/engines/llamacpp.args.j2."""
    return render_lines(
        "engines/llamacpp.args.j2", pool=pool, model_dir=EDGE_MODEL_DIR, port=port, threads=pool.threads or cores
    )
