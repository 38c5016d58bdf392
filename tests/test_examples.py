"""examples/github-actions/release.yaml, the pipeline users copy: it parses, every voxdeploy command it runs parses
with the CLI it installs, every stack it names exists, and the objects its gate waits for are the staging stack's."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from tests.support.stacks import REPO, config_of, staging_canary
from voxdeploy.cli import build_parser
from voxdeploy.infra.builders import build_objects
from voxdeploy.infra.config import load_stack

WORKFLOW = REPO / "examples" / "github-actions" / "release.yaml"


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def run_lines() -> list[str]:
    return [step["run"] for job in workflow()["jobs"].values() for step in job["steps"] if "run" in step]


def voxdeploy_commands() -> list[list[str]]:
    commands, words = [], []
    for line in run_lines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        for token in [*lexer, ";"]:
            if token in ("&&", "||", "|", ";", ">", ">>"):
                if words and Path(words[0]).name == "voxdeploy":
                    commands.append(words[1:])
                words = []
            else:
                words.append(token)
    return commands


def test_the_workflow_has_the_pipeline_jobs_in_order() -> None:
    jobs = workflow()["jobs"]
    assert list(jobs) == ["validate", "preview", "staging", "gate", "prod"]
    assert [jobs[name]["needs"] for name in list(jobs)[1:]] == ["validate", "preview", "staging", "gate"]
    assert jobs["prod"]["environment"] == "production", "prod waits for the environment's reviewers"
    assert workflow()[True] == {"push": {"branches": ["main"]}, "pull_request": None}  # YAML 1.1 reads `on` as True


@pytest.mark.parametrize("argv", voxdeploy_commands(), ids=shlex.join)
def test_every_voxdeploy_command_parses(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    if getattr(args, "stack", None):
        assert (REPO / "stacks" / f"Pulumi.{args.stack}.yaml").is_file(), args.stack


def test_the_workflow_validates_renders_and_plans() -> None:
    subcommands = {argv[0] for argv in voxdeploy_commands()}
    assert {"validate", "render", "plan"} <= subcommands
    assert any("--check" in argv for argv in voxdeploy_commands() if argv[0] == "render")


def test_pulumi_steps_name_stacks_that_exist() -> None:
    jobs = workflow()["jobs"]
    stacks = []
    for job in jobs.values():
        for step in job["steps"]:
            if str(step.get("uses", "")).startswith("pulumi/actions@"):
                name = step["with"]["stack-name"]
                stacks += job["strategy"]["matrix"]["stack"] if "matrix.stack" in name else [name]
    assert sorted(set(stacks)) == ["prod", "staging"]
    for stack in stacks:
        assert (REPO / "stacks" / f"Pulumi.{stack}.yaml").is_file()


def test_the_gate_waits_for_the_staging_stacks_own_objects() -> None:
    config = load_stack("staging").config
    objects = {(o["kind"], o["metadata"]["name"]) for o in build_objects(config)}
    gate = " ".join(step["run"] for step in workflow()["jobs"]["gate"]["steps"] if "run" in step)
    assert re.findall(r"rollout status deployment/(\S+)", gate) == [config.cloud.name]
    assert ("Deployment", config.cloud.name) in objects
    jobs = set(re.findall(r"job/(\S+)", gate))
    assert jobs, "the gate waits for the load-test master"
    for job in jobs:
        assert ("Job", job) in objects, job
    assert set(re.findall(r"-n (\S+)", gate)) == {config.namespace}


def test_the_canary_gate_in_the_comment_names_the_canary_stacks_objects() -> None:
    """The steps the gate's comment gives for a canary, against staging with the canary its stack file shows."""
    config = config_of(staging_canary())
    objects = build_objects(config)
    comment = WORKFLOW.read_text().partition("replace the three steps above by:")[2]
    (rollout,) = re.findall(r"argo rollouts status (\S+) -n (\S+)", comment)
    assert rollout == (config.cloud.name, config.namespace)
    assert any(o["kind"] == "Rollout" and o["metadata"]["name"] == config.cloud.name for o in objects)
    (selector,) = re.findall(r"logs -l (\S+)=(\S+)", comment)
    (template,) = [o for o in objects if o["kind"] == "AnalysisTemplate" and o["metadata"]["name"].endswith("loadtest")]
    master = template["spec"]["metrics"][0]["provider"]["job"]["spec"]["template"]["metadata"]["labels"]
    assert master[selector[0]] == selector[1]
    assert not [o for o in objects if o["kind"] == "Job"], "the canary's analysis runs the load test, no Job of its own"


def test_cluster_credentials_are_environment_secrets_behind_their_reviewers() -> None:
    """A pull request's preview runs that request's Pulumi program: prod's kubeconfig must reach it only through
    the `production` environment, whose reviewers approve the job, never as a repository secret."""
    text = WORKFLOW.read_text()
    assert not re.search(r"KUBECONFIG_[A-Z]+", text.partition("\njobs:")[2]), "no repository-wide cluster secret"
    for name, job in workflow()["jobs"].items():
        if "secrets.KUBECONFIG" in yaml.safe_dump(job):
            assert "environment" in job, f"{name} reads a kubeconfig outside an environment"
    preview = workflow()["jobs"]["preview"]["environment"]
    assert "'production'" in preview and "matrix.stack == 'prod'" in preview
