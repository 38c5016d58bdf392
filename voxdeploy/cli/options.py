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

from voxdeploy.contracts.runtime import EngineSettings, LogFormat, ProcessEngine, SimEngine, VoxcpmEngine

FLAG_PREFIX: dict[type[BaseModel], str] = {SimEngine: "sim", VoxcpmEngine: "", ProcessEngine: "engine"}
"""Flag prefix per engine model: --sim-rtf, --checkpoint, --engine-command. The one hand-kept table."""

FLAG_ALIASES = {"--sim-first-audio-seconds": ("--sim-first-audio",)}
"""Earlier, shorter names kept working."""


@dataclass(frozen=True)
class EngineFlag:
    """One engine field as a command-line flag."""

    model: type[BaseModel]
    path: tuple[str, ...]  # the field's camelCase keys in the settings file: ("rtf",), ("lora", "r")
    flag: str  # --sim-rtf, --lora-r
    dest: str  # sim_rtf, lora_r
    field: FieldInfo
    section: bool = False
    """The flag of a nested model itself (--lora): on, it sets the section with its defaults; off, unsets it."""


def _engine_models() -> list[type[BaseModel]]:
    union = get_args(EngineSettings)[0]
    return list(get_args(union))


def _kinds(model: type[BaseModel]) -> tuple[str, ...]:
    return tuple(get_args(model.model_fields["kind"].annotation))


ENGINES: dict[str, type[BaseModel]] = {kind: model for model in _engine_models() for kind in _kinds(model)}
"""The engine registry: `kind` -> its settings model, in the contracts' order."""


def _kebab(key: str) -> str:
    return "".join(f"-{c.lower()}" if c.isupper() else c for c in key)


def _nested_model(field: FieldInfo) -> type[BaseModel] | None:
    """The model of a field that is a section of its own (VoxcpmEngine.lora), else None."""
    options = get_args(field.annotation) or (field.annotation,)
    return next((a for a in options if isinstance(a, type) and issubclass(a, BaseModel)), None)


def _model_flags(model: type[BaseModel], owner: type[BaseModel], path: tuple[str, ...], flag: str) -> list[EngineFlag]:
    flags = []
    for name, field in model.model_fields.items():
        if name == "kind":
            continue
        key = field.alias or name
        at = f"{flag}-{_kebab(key)}" if flag != "--" else f"--{_kebab(key)}"
        nested = _nested_model(field)
        if nested is None:
            flags.append(EngineFlag(owner, (*path, key), at, at[2:].replace("-", "_"), field))
            continue
        flags.append(EngineFlag(owner, (*path, key), at, at[2:].replace("-", "_"), field, section=True))
        flags += _model_flags(nested, owner, (*path, key), at)
    return flags


def engine_flags() -> list[EngineFlag]:
    """Every engine field as a flag; a nested section's fields under its name (--lora-r for lora.r)."""
    flags = []
    for model in dict.fromkeys(ENGINES.values()):
        prefix = FLAG_PREFIX[model]
        flags += _model_flags(model, model, (), f"--{prefix}" if prefix else "--")
    return flags


def _argparse_options(flag: EngineFlag) -> dict[str, Any]:
    field = flag.field
    if flag.section:
        text = f"{field.description} (--{flag.flag[2:]}-* set its fields and turn it on)"
        return {"action": argparse.BooleanOptionalAction, "help": text}
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
        options = _argparse_options(flag)
        names = (flag.flag, *FLAG_ALIASES.get(flag.flag, ()))
        groups[flag.model].add_argument(*names, dest=flag.dest, default=None, **options)


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
            _set(current, flag, value)
    if model is ProcessEngine:
        from voxdeploy.contracts.model import LLAMACPP_PORT

        current.setdefault("port", LLAMACPP_PORT)
    return current


def _set(document: dict[str, Any], flag: EngineFlag, value: object) -> None:
    """One flag into the settings: a section's field creates the section; --no-SECTION removes it."""
    *sections, key = flag.path
    for section in sections:
        if not isinstance(document.get(section), dict):
            document[section] = {}
        document = document[section]
    if not flag.section:
        document[key] = value
    elif value is False:
        document[key] = None
    elif not isinstance(document.get(key), dict):
        document[key] = {}


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


LOOPBACK = "127.0.0.1"
"""Where `serve` listens unless told otherwise: only the pods' settings file (--config) says 0.0.0.0."""


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help=f"listen address [{LOOPBACK}; with --config: the file's, 0.0.0.0 in a pod]")
    for dest, _, kind, text in SERVER_FLAGS:
        parser.add_argument(f"--{dest.replace('_', '-')}", dest=dest, type=kind, help=text)
    parser.add_argument(
        "--log-format",
        choices=get_args(LogFormat),
        default="text",
        help="text for a terminal, json (one object a line, what the rendered pods use) for a log collector [text]",
    )
    add_access_arguments(parser)


def apply_server_flags(args: argparse.Namespace, document: dict[str, Any]) -> dict[str, Any]:
    """Put --host, the server flags and the global --log-level over a camelCase settings dump.

    Without --host, a server started from a stack or from flags alone listens on loopback: it runs on someone's
    machine, where 0.0.0.0 would offer the API to the whole network. The stack's own settings (built for its
    pods) say 0.0.0.0, so only a settings file (--config, what the pods run) keeps the host it names.
    """
    server = dict(document["server"])
    for dest, key, _, _ in SERVER_FLAGS:
        if getattr(args, dest, None) is not None:
            server[key] = getattr(args, dest)
    if getattr(args, "log_level", None) is not None and "logLevel" in server:
        server["logLevel"] = args.log_level
    document = {**document, "server": server}
    if args.host is not None:
        document["host"] = args.host
    elif args.config is None:
        document["host"] = LOOPBACK
    return apply_access_flags(args, document)


def add_access_arguments(parser: argparse.ArgumentParser) -> None:
    """Who may use the API and where /metrics is served: what a pod's settings file sets, given by hand."""
    group = parser.add_argument_group("API keys and /metrics")
    group.add_argument(
        "--api-keys",
        metavar="DIR",
        help="directory of API keys, one file per key named by the key's name (a Secret's layout: "
        "`kubectl create secret generic NAME --from-file=DIR` makes the pods' Secret of it); every path but "
        "/health, /ready, /metrics and /openapi.json then needs `Authorization: Bearer <key>`. Without it (and "
        "without --config) the API is open, and the server says so at start",
    )
    group.add_argument(
        "--forwarder-keys",
        metavar="DIR",
        help="directory of the keys of routers in front, which may name their caller in X-Voxdeploy-Caller",
    )
    group.add_argument(
        "--max-concurrent-per-key",
        type=int,
        help="requests one key may have in flight and queued at once [half of --max-concurrent + --max-queue]",
    )
    group.add_argument(
        "--metrics-port", type=int, help="serve /metrics on this port alone (and not on --port) [beside the API]"
    )


def apply_access_flags(args: argparse.Namespace, document: dict[str, Any]) -> dict[str, Any]:
    """Put the key and metrics-port flags over a camelCase settings dump.

    A stack's settings point `auth` at the pods' Secret volumes and give /metrics the port their NetworkPolicy opens
    to Prometheus; outside a pod (no --config) neither exists, so both are dropped unless given here: the server
    then runs open, saying so at start, with /metrics beside the API."""
    auth = document.get("auth")
    server = dict(document["server"])
    if args.config is None:
        auth, server["metricsPort"] = None, None
    if args.metrics_port is not None:
        server["metricsPort"] = args.metrics_port
    given = {
        key: value
        for key, value in (
            ("keys", args.api_keys),
            ("forwarders", args.forwarder_keys),
            ("maxConcurrentPerKey", args.max_concurrent_per_key),
        )
        if value is not None
    }
    if given:
        auth = {**(auth or {}), **given}
    return {**document, "server": server, "auth": auth}


def read_settings_file(path: Path) -> dict[str, object]:
    """A YAML settings file as a mapping, read within the stack files' bounds; else a ConfigError naming the file."""
    from voxdeploy.infra.config.errors import ConfigError, ConfigIssue
    from voxdeploy.infra.config.safe_yaml import read_yaml_file

    document = read_yaml_file(path) or {}
    if not isinstance(document, dict):
        raise ConfigError(str(path), [ConfigIssue("(root)", document, "must be a mapping of settings")])
    return document
