"""Schemas the tests validate against: Kubernetes' (strictly), CRDs made strict, and the config models."""

from __future__ import annotations

from pydantic import BaseModel

from voxdeploy.infra.config.errors import _nested_models

KUBERNETES_VERSION = "1.30"
"""The Kubernetes API version objects are validated against (kubernetes-validate)."""


def strict(schema: object) -> object:
    """Reject unknown fields, as `kubectl apply --validate=strict` does for CRDs with structural schemas."""
    if isinstance(schema, dict):
        schema = {k: strict(v) for k, v in schema.items()}
        if schema.get("type") == "object" and "properties" in schema:
            schema.setdefault("additionalProperties", False)
    elif isinstance(schema, list):
        schema = [strict(v) for v in schema]
    return schema


def config_models(root: type[BaseModel]) -> set[type[BaseModel]]:
    """root and every pydantic model nested in its fields, at any depth."""
    seen: set[type[BaseModel]] = set()
    todo = [root]
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for field in model.model_fields.values():
            todo.extend(_nested_models(field.annotation))
    return seen
