"""The `voxdeploy` command as users run it: a real process, real files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.processes import run_to_end
from tests.support.stacks import REPO, STACKS_DIR
from voxdeploy.cli import main


def voxdeploy(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return run_to_end([sys.executable, "-m", "voxdeploy", *args], 120, cwd=cwd)


def test_render_twice_is_byte_identical(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        result = voxdeploy("render", "--stack", "prod", "--out", str(out))
        assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    assert len(names) == 14
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_render_writes_one_file_per_object_and_a_kustomization(tmp_path: Path) -> None:
    assert main(["render", "--stack", "prod", "--stacks-dir", str(STACKS_DIR), "--out", str(tmp_path)]) == 0
    kustomization = yaml.safe_load((tmp_path / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in tmp_path.iterdir()} - {"kustomization.yaml"}
    assert listed == on_disk
    for name in listed:
        documents = list(yaml.safe_load_all((tmp_path / name).read_text()))
        assert len(documents) == 1
        assert "&id" not in (tmp_path / name).read_text(), "no YAML anchors in GitOps output"


def test_render_removes_objects_the_stack_no_longer_has(tmp_path: Path, write_stack) -> None:
    from tests.support.stacks import mutated

    assert main(["render", "--stack", "prod", "--stacks-dir", str(STACKS_DIR), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "networkpolicy-voxcpm.yaml").exists()
    (tmp_path / "notes.md").write_text("mine")
    smaller = write_stack(mutated("prod", "cloud.networkPolicy", {"enabled": False}))
    assert main(["render", "--stack", str(smaller), "--out", str(tmp_path)]) == 0
    assert not (tmp_path / "networkpolicy-voxcpm.yaml").exists()
    assert (tmp_path / "notes.md").read_text() == "mine", "files voxdeploy did not write are left alone"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (Debian kubernetes-client) not installed")
def test_kubectl_kustomize_builds_the_rendered_directory(tmp_path: Path) -> None:
    assert main(["render", "--stack", "prod", "--stacks-dir", str(STACKS_DIR), "--out", str(tmp_path)]) == 0
    built = subprocess.run(["kubectl", "kustomize", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert built.returncode == 0, built.stderr
    kinds = [doc["kind"] for doc in yaml.safe_load_all(built.stdout)]
    assert {"Deployment", "HorizontalPodAutoscaler", "Ingress"} <= set(kinds) and len(kinds) == 13


def test_plan_prints_objects_and_sizing() -> None:
    result = voxdeploy("plan", "--stack", "prod")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for kind in ("Namespace", "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
        assert kind in out
    sizing = dict(line.split() for line in out.split("Sizing\n")[1].split("\n\n")[0].splitlines()[1:])
    assert sizing == {
        "replicasMin": "2",
        "replicasMax": "10",
        "gpusPerPod": "1",
        "gpusMin": "2",
        "gpusMax": "10",
        "tensorParallelSize": "1",
        "maxNumSeqs": "256",
        "concurrentRequestsMax": "1000",
    }


def test_plan_json(capsys) -> None:
    assert main(["plan", "--stack", "staging", "--stacks-dir", str(STACKS_DIR), "-o", "json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["sizing"]["gpusMax"] == 4
    assert {"kind": "Deployment", "namespace": "voxcpm-staging", "name": "voxcpm"} in plan["objects"]


def test_validate_prod_exits_0() -> None:
    result = voxdeploy("validate", "--stack", "prod")
    assert result.returncode == 0 and "valid" in result.stdout


def test_usage_errors_exit_2() -> None:
    assert voxdeploy("frobnicate").returncode == 2
    assert voxdeploy("plan", "--output", "xml").returncode == 2


def test_schema_describes_the_stack_file(capsys) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    config = schema["properties"]["config"]
    assert "voxdeploy:cloud" in config["properties"] and config["additionalProperties"] is False
    assert "voxdeploy:hfToken" in config["properties"]


def test_commands_do_not_import_pulumi_or_runtime() -> None:
    """Subcommands import lazily: rendering must not drag in Pulumi's gRPC stack or the runtime."""
    code = (
        "import sys; from voxdeploy.cli import main; main(['validate', '--stack', 'dev']); "
        "heavy = ('pulumi', 'pulumi_kubernetes', 'voxdeploy.runtime', 'voxdeploy.loadtests'); "
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
