"""Option builders `serve` and `serve --router` share, and the engine registry their flags come from.

The engine flags are not typed per engine: each engine model of voxdeploy.contracts.runtime (the members
of the `kind`-discriminated EngineSettings union) gives one flag per field, named from the field's
camelCase key under the engine's flag prefix, typed and documented from the field itself.
"""

from __future__ import annotations

import argparse
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from voxdeploy.contracts.runtime import EngineSettings, ProcessEngine, SimEngine, VoxcpmEngine

FLAG_PREFIX: dict[type[BaseModel], str] = {SimEngine: "sim", VoxcpmEngine: "", ProcessEngine: "engine"}
"""Flag prefix per engine model: --sim-rtf, --checkpoint, --engine-command. The one hand-kept table."""

FLAG_ALIASES = {"--sim-first-audio-seconds": ("--sim-first-audio",)}
"""Earlier, shorter names kept working."""


@dataclass(frozen=True)
class EngineFlag:
    """One engine field as a command-line flag."""

    model: type[BaseModel]
    key: str  # the field's camelCase key in the settings file
    flag: str  # --sim-rtf
    dest: str  # sim_rtf


def _engine_models() -> list[type[BaseModel]]:
    union = get_args(EngineSettings)[0]
    return list(get_args(union))


def _kinds(model: type[BaseModel]) -> tuple[str, ...]:
    return tuple(get_args(model.model_fields["kind"].annotation))


ENGINES: dict[str, type[BaseModel]] = {kind: model for model in _engine_models() for kind in _kinds(model)}
"""The engine registry: `kind` -> its settings model, in the contracts' order."""


def _kebab(key: str) -> str:
    return "".join(f"-{c.lower()}" if c.isupper() else c for c in key)


def engine_flags() -> list[EngineFlag]:
    flags = []
    for model in dict.fromkeys(ENGINES.values()):
        prefix = FLAG_PREFIX[model]
        for name, field in model.model_fields.items():
            if name == "kind":
                continue
            key = field.alias or name
            flag = f"--{prefix}-{_kebab(key)}" if prefix else f"--{_kebab(key)}"
            flags.append(EngineFlag(model, key, flag, flag[2:].replace("-", "_")))
    return flags


def _argparse_options(field: FieldInfo) -> dict[str, Any]:
    annotation = field.annotation
    if get_origin(annotation) in (typing.Union, types.UnionType):
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    default = "" if field.is_required() else f" [{field.default}]"
    text = (field.description or "") + default
    if annotation is bool:
        return {"action": argparse.BooleanOptionalAction, "help": text}
    if get_origin(annotation) is Literal:
        return {"choices": get_args(annotation), "help": text}
    if get_origin(annotation) is list:
        return {"nargs": argparse.REMAINDER, "help": text + " (everything after this flag)"}
    if annotation in (int, float):
        return {"type": annotation, "help": text}
    return {"help": text}


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """--engine KIND and one flag per engine field, grouped per engine."""
    parser.add_argument(
        "--engine", choices=tuple(ENGINES), help="engine behind the API [sim unless --config/--stack say]"
    )
    groups: dict[type[BaseModel], argparse._ArgumentGroup] = {}
    for flag in engine_flags():
        if flag.model not in groups:
            kinds = [k for k, m in ENGINES.items() if m is flag.model]
            groups[flag.model] = parser.add_argument_group(f"{' and '.join(kinds)} engine{'s' * (len(kinds) > 1)}")
        options = _argparse_options(flag.model.model_fields[_field_name(flag)])
        names = (flag.flag, *FLAG_ALIASES.get(flag.flag, ()))
        groups[flag.model].add_argument(*names, dest=flag.dest, default=None, **options)


def _field_name(flag: EngineFlag) -> str:
    return next(n for n, f in flag.model.model_fields.items() if (f.alias or n) == flag.key)


def given_engine_flags(args: argparse.Namespace) -> list[tuple[EngineFlag, object]]:
    """The engine flags given on the command line, in registry order."""
    return [(flag, value) for flag in engine_flags() if (value := getattr(args, flag.dest, None)) is not None]


def engine_document(args: argparse.Namespace, base: dict[str, object]) -> dict[str, object]:
    """The engine's settings: `base` (a camelCase dump) when its kind is kept, then the flags of that kind."""
    kind = args.engine or str(base["kind"])
    current = dict(base) if base["kind"] == kind else {"kind": kind}
    model = ENGINES[kind]
    for flag, value in given_engine_flags(args):
        if flag.model is model:
            current[flag.key] = value
    if model is ProcessEngine:
        from voxdeploy.contracts.model import LLAMACPP_PORT

        current.setdefault("port", LLAMACPP_PORT)
    return current


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the settings start from: a settings file or a stack (exclusive), else flags alone."""
    from voxdeploy.cli.common import add_stacks_dir_argument

    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--config", type=Path, help="settings file (the pods' /etc/voxdeploy/runtime.yaml, or the router's)"
    )
    source.add_argument("--stack", help="serve this stack's cloud tier (or its router with --router)")
    add_stacks_dir_argument(parser)


SERVER_FLAGS = (
    ("port", "port", int, "listen port [8000]"),
    ("max_concurrent", "maxConcurrentRequests", int, "requests handled at once"),
    ("max_queue", "maxQueuedRequests", int, "requests that may wait; beyond, 429"),
    ("request_timeout", "requestTimeoutSeconds", float, "seconds before a request gets 504"),
)
"""(dest, RuntimeServer key, type, help): the listening and admission flags of every server."""


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="listen address [127.0.0.1 without --config/--stack]")
    for dest, _, kind, text in SERVER_FLAGS:
        parser.add_argument(f"--{dest.replace('_', '-')}", dest=dest, type=kind, help=text)


def apply_server_flags(args: argparse.Namespace, document: dict[str, Any]) -> dict[str, Any]:
    """Put --host, the server flags and the global --log-level over a camelCase settings dump."""
    server = dict(document["server"])
    for dest, key, _, _ in SERVER_FLAGS:
        if getattr(args, dest, None) is not None:
            server[key] = getattr(args, dest)
    if getattr(args, "log_level", None) is not None and "logLevel" in server:
        server["logLevel"] = args.log_level
    document = {**document, "server": server}
    if args.host is not None:
        document["host"] = args.host
    return document


def read_settings_file(path: Path) -> dict[str, object]:
    """A YAML settings file as a mapping; a ConfigError naming the file otherwise."""
    import yaml

    from voxdeploy.infra.config.errors import MISSING, ConfigError, ConfigIssue

    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(str(path), [ConfigIssue("(file)", MISSING, f"cannot read: {err}")]) from None
    if not isinstance(document, dict):
        raise ConfigError(str(path), [ConfigIssue("(root)", document, "must be a mapping of settings")])
    return document
