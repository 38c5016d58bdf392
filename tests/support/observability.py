"""What the observability tests share: every environment's config, and promtool runs.

promtool and prometheus come from Debian's `prometheus` package (tests/run.sh installs it); tests that
need one skip, naming the package, only where the binary is truly missing.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.alert_cases import EVALUATION_MINUTES
from tests.support.stacks import STACKS
from voxdeploy.infra.config import DeploymentConfig, load_stack
from voxdeploy.infra.observability.rules import rule_file

CONFIG_NAMES = [*STACKS, "defaults"]
"""Every stack of the repository (cloud, edge pools, router: whatever it runs is watched), plus the defaults."""
CLOUD_CONFIG_NAMES = [*(stack for stack in STACKS if load_stack(stack).config.cloud.enabled), "defaults"]
"""Those with a cloud tier, for what only it has (the troubleshooting guides, the dashboard's top panels)."""


def config_named(name: str) -> DeploymentConfig:
    return DeploymentConfig() if name == "defaults" else load_stack(name).config


def binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian package `prometheus`: apt-get install -y prometheus)")
    return path


def run_unit_tests(promtool: str, config: DeploymentConfig, tests: list[dict[str, object]], directory: Path) -> str:
    """`promtool test rules` of the given tests against the environment's rule file."""
    rules = rule_file(config)
    (directory / "rules.yaml").write_text(yaml.safe_dump(rules, sort_keys=False))
    document = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": f"{EVALUATION_MINUTES}m",
        # promtool evaluates groups in random order unless told: recording rules first, as alerts read them.
        "group_eval_order": [group["name"] for group in rules["groups"]],
        "tests": tests,
    }
    (directory / "tests.yaml").write_text(yaml.safe_dump(document, sort_keys=False, width=1000))
    return run_promtool(promtool, "test", "rules", "tests.yaml", cwd=directory)


def run_promtool(promtool: str, *args: str | Path, cwd: Path | None = None) -> str:
    """Run promtool; fail the test with its whole output when it does not exit 0."""
    command = [promtool, *map(str, args)]
    result = subprocess.run(command, check=False, capture_output=True, text=True, cwd=cwd, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output
