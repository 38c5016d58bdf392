"""The repository's stacks, and broken copies of them for the tests that refuse bad input."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from voxdeploy.infra.config import ConfigError, DeploymentConfig, config_from_keys, parse_config

REPO = Path(__file__).resolve().parents[2]
STACKS_DIR = REPO / "stacks"
STACKS = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in STACKS_DIR.glob("Pulumi.*.yaml"))

KEYED: dict[str, object] = {"keysSecret": "voxcpm-api-keys"}
"""The `auth` of a stack document made up in a test: pods must check keys (or say `required: false`)."""

DELETE = object()
"""A value for `mutated` that removes the key instead of setting it."""


def read_stack_file(name: str) -> dict:
    return yaml.safe_load((STACKS_DIR / f"Pulumi.{name}.yaml").read_text())


def mutated(base: str, path: str, value: object) -> dict:
    """A copy of stack `base` with `voxdeploy:<path>` (dot-separated, camelCase) set to value.

    A value of DELETE removes the key instead.
    """
    document = copy.deepcopy(read_stack_file(base))
    top, *rest = path.split(".")
    node = document["config"]
    key = f"voxdeploy:{top}"
    if not rest:
        if value is DELETE:
            node.pop(key, None)
        else:
            node[key] = value
        return document
    node = node.setdefault(key, {})
    for part in rest[:-1]:
        node = node.setdefault(part, {})
    if value is DELETE:
        node.pop(rest[-1], None)
    else:
        node[rest[-1]] = value
    return document


def with_secret(source: str, base: str = "prod", **extra: object) -> dict:
    """A copy of stack `base` whose pods read HF_TOKEN from a Secret, and `secrets` set to source plus extra."""
    document = mutated(base, "cloud.pod.modelCache.hfTokenSecret", {"name": "hf-token", "key": "token"})
    document["config"]["voxdeploy:secrets"] = {"source": source, **extra}
    return document


def config_of(document: dict) -> DeploymentConfig:
    """A stack document's config as `validate` parses it; raises ConfigError."""
    return parse_config(config_from_keys(document["config"]), "test")


def refusals(document: dict) -> dict[str, list[str]]:
    """path -> the messages `validate` refuses the document with (the test fails if it is accepted)."""
    with pytest.raises(ConfigError) as caught:
        config_of(document)
    found: dict[str, list[str]] = {}
    for issue in caught.value.issues:
        found.setdefault(issue.path, []).append(issue.message)
    return found


def the(objects: list[dict], kind: str, name: str) -> dict:
    """The one rendered object of that kind and name."""
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def staging_canary(**rollout: object) -> dict:
    """Staging with the canary its stack file describes in a comment: 10 %, the load test, 50 %."""
    document = read_stack_file("staging")
    document["config"]["voxdeploy:cloud"]["rollout"] = {
        "strategy": "canary",
        "canary": {
            "steps": [{"setWeight": 10, "pause": "10m"}, {"setWeight": 50, "pause": "10m"}],
            "analysis": {"loadTest": True},
        },
        **rollout,
    }
    return document
