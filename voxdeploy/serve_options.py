"""`voxdeploy serve` options -> RuntimeConfig: a settings file, a stack, or flags alone, flags winning."""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml
from pydantic import ValidationError

from voxdeploy.contracts.model import LLAMACPP_PORT
from voxdeploy.contracts.runtime import RuntimeConfig, SimEngine
from voxdeploy.infra.config.errors import MISSING, ConfigError, ConfigIssue, issues_from_validation

ENGINES = ("sim", "vllm-omni", "llamacpp", "voxcpm")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--config", type=Path, help="runtime settings file (the pods' /etc/voxdeploy/runtime.yaml)")
    source.add_argument("--stack", help="serve the cloud tier of this stack (its vLLM-Omni command and limits)")
    parser.add_argument("--stacks-dir", type=Path, default=None, help="directory holding Pulumi.<stack>.yaml files")
    parser.add_argument("--engine", choices=ENGINES, help="engine behind the API [sim unless --config/--stack say]")
    parser.add_argument("--host", help="listen address [127.0.0.1 without --config]")
    parser.add_argument("--port", type=int, help="listen port [8000]")
    parser.add_argument("--max-concurrent", type=int, help="requests synthesized at once")
    parser.add_argument("--max-queue", type=int, help="requests that may wait; beyond, 429")
    parser.add_argument("--request-timeout", type=float, help="seconds before a request gets 504")
    sim = parser.add_argument_group("sim engine")
    sim.add_argument("--sim-rtf", type=float, help="real-time factor of one request [0.13]")
    sim.add_argument("--sim-first-audio", type=float, help="seconds to the first audio chunk [0.12]")
    sim.add_argument("--sim-batch-capacity", type=int, help="requests at full speed at once [8]")
    sim.add_argument("--sim-load-seconds", type=float, default=0.0, help="pretend model load time [0]")
    voxcpm = parser.add_argument_group("voxcpm engine")
    voxcpm.add_argument("--checkpoint", help="local VoxCPM2 checkpoint directory")
    voxcpm.add_argument("--device", choices=("cpu", "cuda"), help="torch device [cuda]")
    voxcpm.add_argument(
        "--compile",
        action="store_true",
        default=None,
        help="torch.compile at load: ~7x faster on an H100, ~2 min longer load",
    )
    process = parser.add_argument_group("vllm-omni and llamacpp engines")
    process.add_argument(
        "--engine-command", nargs=argparse.REMAINDER, help="the engine's full command line (everything after this flag)"
    )
    process.add_argument("--engine-port", type=int, help="loopback port the engine listens on")


def _from_file(path: Path) -> RuntimeConfig:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(str(path), [ConfigIssue("(file)", MISSING, f"cannot read: {err}")]) from None
    try:
        return RuntimeConfig.model_validate(document)
    except ValidationError as err:
        raise ConfigError(str(path), issues_from_validation(RuntimeConfig, err)) from None


def _from_stack(args: argparse.Namespace) -> RuntimeConfig:
    from voxdeploy.infra.builders.cloud import runtime_settings
    from voxdeploy.infra.config import load_stack

    return runtime_settings(load_stack(args.stack, args.stacks_dir).config.cloud)


def _engine(args: argparse.Namespace, base: RuntimeConfig) -> dict[str, object]:
    kind = args.engine or base.engine.kind
    current = base.engine.model_dump() if base.engine.kind == kind else {"kind": kind}
    if kind == "sim":
        current.update(
            {
                k: v
                for k, v in (
                    ("rtf", args.sim_rtf),
                    ("firstAudioSeconds", args.sim_first_audio),
                    ("batchCapacity", args.sim_batch_capacity),
                )
                if v is not None
            }
        )
    elif kind == "voxcpm":
        current.update(
            {
                k: v
                for k, v in (("checkpoint", args.checkpoint), ("device", args.device), ("compile", args.compile))
                if v is not None
            }
        )
    else:
        if args.engine_command:
            current["command"] = args.engine_command
        if args.engine_port is not None:
            current["port"] = args.engine_port
        current.setdefault("port", LLAMACPP_PORT)
    return current


def runtime_config(args: argparse.Namespace) -> RuntimeConfig:
    """Start from the file or stack (or defaults on loopback), then apply the flags given.

    Everything is handled in the stack files' camelCase keys (model_dump serializes by alias).
    """
    if args.config is not None:
        base = _from_file(args.config)
    elif args.stack is not None:
        base = _from_stack(args)
    else:
        base = RuntimeConfig(engine=SimEngine(), host="127.0.0.1")
    server = base.server.model_dump()
    for key, value in (
        ("port", args.port),
        ("maxConcurrentRequests", args.max_concurrent),
        ("maxQueuedRequests", args.max_queue),
        ("requestTimeoutSeconds", args.request_timeout),
    ):
        if value is not None:
            server[key] = value
    document = {**base.model_dump(), "engine": _engine(args, base), "server": server}
    if args.host is not None:
        document["host"] = args.host
    try:
        return RuntimeConfig.model_validate(document)
    except ValidationError as err:
        raise ConfigError("voxdeploy serve", issues_from_validation(RuntimeConfig, err)) from None
