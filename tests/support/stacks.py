"""The repository's stacks, and broken copies of them for the tests that refuse bad input."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

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
