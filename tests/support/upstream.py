"""Upstream files kept as fixtures (source, commit and license in each file's header)."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from functools import cache

import yaml

from tests.support.stacks import REPO

VOXCPM2_DEPLOY = REPO / "tests" / "fixtures" / "upstream" / "vllm-omni-voxcpm2-deploy.yaml"
"""vLLM-Omni's own vllm_omni/deploy/voxcpm2.yaml."""


def voxcpm2_deploy_stages() -> list[dict]:
    """The stages of vLLM-Omni's VoxCPM2 deploy file."""
    return yaml.safe_load(VOXCPM2_DEPLOY.read_text())["stages"]


VLLM_OMNI_METRICS = REPO / "tests" / "fixtures" / "upstream" / "vllm-omni-0.30-metrics.txt"
"""An engine /metrics exposition with vLLM's and vLLM-Omni 0.30.0's own family names."""
METRICS_STANDIN = REPO / "tests" / "support" / "vllm_omni_metrics_server.py"


def vllm_omni_standin_args(engine_port: int) -> list[str]:
    """`voxdeploy serve` arguments for a vllm-omni runtime whose engine is the metrics stand-in, serving
    VLLM_OMNI_METRICS on engine_port (the engine command comes last: it takes the rest of the line)."""
    return [
        "--engine",
        "vllm-omni",
        "--engine-port",
        str(engine_port),
        "--engine-command",
        sys.executable,
        str(METRICS_STANDIN),
        "--port",
        str(engine_port),
        "--metrics-file",
        str(VLLM_OMNI_METRICS),
    ]


@cache
def hf_download_help() -> tuple[str, str]:
    """(huggingface_hub version, `hf download --help`) of the CLI installed beside this Python: the init
    containers run that CLI, so their flags are checked against its own help, not our idea of it."""
    path = shutil.which("hf", path=os.path.dirname(sys.executable))
    if path is None:
        raise RuntimeError(
            "huggingface_hub's `hf` CLI is not installed next to this Python (the [voxcpm] extra has it)"
        )
    text = subprocess.run([path, "download", "--help"], capture_output=True, text=True, check=True).stdout
    return importlib.metadata.version("huggingface_hub"), text


def assert_hf_download_takes(command: list[str]) -> None:
    """Every flag of an `hf download ...` command exists in the installed CLI."""
    version, text = hf_download_help()
    assert command[:2] == ["hf", "download"], command
    for flag in (arg for arg in command if arg.startswith("--")):
        assert flag in text, f"huggingface_hub {version}: `hf download` has no {flag}"
