"""The report `voxdeploy validate` and `plan` print, and the exit code its unwaived errors decide."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.policy import built
from tests.support.stacks import STACKS_DIR, mutated
from voxdeploy.cli import main
from voxdeploy.cli.common import EXIT_OK, EXIT_USAGE
from voxdeploy.cli.policy import report
from voxdeploy.infra.policy.rules import RULES

ACCEPTED = "quota raise to 24 GPUs approved, lands with the Q3 cluster expansion"
OVER_QUOTA = {"gpuQuota": 8, "waivers": [{"rule": "image-digest", "object": "*", "reason": ACCEPTED}]}


def test_a_clean_stack_reports_its_warnings_and_no_error() -> None:
    text, errors = report(*built("prod"))
    assert errors == 0
    assert text.splitlines()[0] == f"policy ({len(RULES)} rules): 0 errors, 1 warning, 0 waived"
    assert (
        "warnings:\n  image-digest  Deployment/voxcpm/voxcpm\n    image ghcr.io/voxdeploy/runtime-cloud:0.1.0" in text
    )


def test_errors_come_first_and_waived_ones_show_their_reason() -> None:
    text, errors = report(*built("prod", "policy", OVER_QUOTA))
    assert errors == 1
    lines = text.splitlines()
    assert lines[0] == f"policy ({len(RULES)} rules): 1 error, 0 warnings, 1 waived"
    assert lines[1:3] == ["errors:", "  gpu-quota  Deployment/voxcpm/voxcpm"]
    assert "waived:" in lines and "  image-digest (warning)  Deployment/voxcpm/voxcpm" in lines
    assert f"    reason: {ACCEPTED}" in lines
    assert "policy.waivers" in lines[-1]


@pytest.mark.parametrize("command", ["validate", "plan"])
def test_unwaived_errors_exit_2(
    command: str, write_stack: Callable[[dict], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_stack(mutated("prod", "policy", OVER_QUOTA))
    assert main([command, "--stack", str(path)]) == EXIT_USAGE
    assert "gpu-quota  Deployment/voxcpm/voxcpm" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["validate", "plan"])
def test_a_stack_with_only_warnings_exits_0(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, "--stack", "prod", "--stacks-dir", str(STACKS_DIR)]) == EXIT_OK
    assert f"policy ({len(RULES)} rules): 0 errors, 1 warning" in capsys.readouterr().out
