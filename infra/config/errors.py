"""Config problems as people read them: the exact key path, the bad value, and what would be valid."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

MISSING = object()
"""The value of a key that is not there at all (distinct from an explicit null)."""

FILE = "(file)"
"""The path of a problem with the file itself (unreadable, not YAML, the wrong shape) rather than with one key."""

SHOWN_ISSUES = 20
"""Problems listed before the rest are only counted: a generated file can hold thousands."""

SHOWN_VALUE_CHARS = 120
"""Longest value shown in a problem; longer ones are cut, so each problem stays one readable line."""


def shown(value: object) -> str:
    """A value as a problem line shows it: its repr, cut to SHOWN_VALUE_CHARS."""
    text = repr(value)
    if len(text) <= SHOWN_VALUE_CHARS:
        return text
    return f"{text[: SHOWN_VALUE_CHARS - 20]}... ({len(text):,} characters)"


@dataclass(frozen=True)
class ConfigIssue:
    """One problem, located by its camelCase path in the stack file (e.g. cloud.autoscaling.minReplicas)."""

    path: str
    value: object
    message: str

    def __str__(self) -> str:
        path = self.path if self.path.isprintable() else ascii(self.path)[1:-1]  # a key holding a newline
        if self.value is MISSING:
            return self.message if path == FILE else f"{path}: {self.message}"
        return f"{path} = {shown(self.value)}: {self.message}"


class ConfigError(Exception):
    """Raised for any invalid stack; carries every problem found, not just the first."""

    def __init__(self, source: str, issues: Sequence[ConfigIssue]) -> None:
        self.source = source
        self.issues = tuple(issues)
        super().__init__(str(self))

    def __str__(self) -> str:
        """One problem on one line (what a script greps); several as a list under a count."""
        count = len(self.issues)
        if count == 1:
            return f"{self.source}: invalid configuration: {self.issues[0]}"
        head = f"{self.source}: invalid configuration ({count} problems)"
        lines = [head, *(f"  {issue}" for issue in self.issues[:SHOWN_ISSUES])]
        if count > SHOWN_ISSUES:
            lines.append(f"  ... and {count - SHOWN_ISSUES:,} more")
        return "\n".join(lines)


def format_path(loc: Iterable[object]) -> str:
    """('cloud', 'pod', 'tolerations', 0, 'key') -> 'cloud.pod.tolerations[0].key'."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(root)"


def _nested_models(annotation: object) -> list[type[BaseModel]]:
    """The config models an annotation can hold (several for a tagged union)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin is dict:  # keys below a dict are the user's own, not fields
        return []
    if origin in (typing.Union, types.UnionType, list, tuple, typing.Annotated):
        return [model for arg in typing.get_args(annotation) for model in _nested_models(arg)]
    return []


def _field(model: type[BaseModel], key: object) -> object | None:
    return next((f for n, f in model.model_fields.items() if (f.alias or n) == key or n == key), None)


def _tagged(model: type[BaseModel], tag: object) -> bool:
    """Whether `tag` is this model's discriminator value (pydantic puts the tag into error paths)."""
    kind = model.model_fields.get("kind")
    return kind is not None and tag in (kind.default, *typing.get_args(kind.annotation))


def _keys_at(root: type[BaseModel], loc: Sequence[object]) -> list[str]:
    """The valid camelCase keys of the model found at `loc`, for 'did you mean' hints."""
    candidates: list[type[BaseModel]] = [root]
    for part in loc:
        if isinstance(part, int):
            continue
        tagged = [model for model in candidates if _tagged(model, part)]
        if tagged and len(candidates) > 1:
            candidates = tagged
            continue
        fields = [f for f in (_field(model, part) for model in candidates) if f is not None]
        candidates = [m for f in fields for m in _nested_models(f.annotation)]  # type: ignore[attr-defined]
    if len(candidates) != 1:
        return []
    return [f.alias or n for n, f in candidates[0].model_fields.items()]


def _describe(root: type[BaseModel], error: ErrorDetails) -> str:
    loc = error["loc"]
    if error["type"] == "extra_forbidden":
        valid = _keys_at(root, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"unknown key; {hint}valid keys here: {', '.join(valid)}"
    if error["type"] == "missing":
        return "required key is missing"
    return str(error["msg"]).removeprefix("Value error, ")


def issues_from_validation(root: type[BaseModel], err: ValidationError) -> list[ConfigIssue]:
    """Pydantic's errors rephrased with the stack file's paths and the valid alternatives."""
    issues = []
    for error in err.errors(include_url=False):
        value = MISSING if error["type"] == "missing" else error.get("input")
        issues.append(ConfigIssue(format_path(error["loc"]), value, _describe(root, error)))
    return issues
