"""What the policy tests share: stacks built into (config, objects), and objects edited by dotted paths."""

from __future__ import annotations

import copy
from typing import Any

from tests.support.stacks import DELETE, mutated, read_stack_file
from voxdeploy.infra.builders import build_objects
from voxdeploy.infra.config import DeploymentConfig, config_from_keys, parse_config
from voxdeploy.infra.policy import Violation, evaluate


def config_of(document: dict, source: str = "test") -> DeploymentConfig:
    return parse_config(config_from_keys(document["config"]), source)


def built(stack: str, key: str | None = None, value: object = None) -> tuple[DeploymentConfig, list[dict]]:
    """A bundled stack, optionally with `voxdeploy:<key>` set (as stacks.mutated does), and its objects."""
    document = read_stack_file(stack) if key is None else mutated(stack, key, value)
    config = config_of(document, stack)
    return config, copy.deepcopy(build_objects(config))


def find(objects: list[dict], kind: str, name: str) -> dict:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def put(obj: dict, path: str, value: object) -> None:
    """Set `a.b.0.c` in a Kubernetes object (numbers index lists); DELETE removes the key."""
    *parents, last = path.split(".")
    node: Any = obj
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    if value is DELETE:
        node.pop(last, None)
    else:
        node[int(last) if isinstance(node, list) else last] = value


def of_rule(violations: list[Violation], rule: str) -> list[Violation]:
    return [v for v in violations if v.rule == rule]


def unwaived_errors(config: DeploymentConfig, objects: list[dict]) -> list[Violation]:
    return [v for v in evaluate(config, objects) if v.severity == "error" and not v.waived]
