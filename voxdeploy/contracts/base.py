"""The base of every model infra and runtime share: strict, frozen, camelCase keys.

Stack files are written by people who also write Kubernetes YAML, so keys are camelCase there
(and in every error path we print) while Python code uses snake_case attributes.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are errors, types are not coerced, values are frozen."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=True,
        serialize_by_alias=True,
    )
