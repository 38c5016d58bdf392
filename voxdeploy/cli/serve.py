"""`voxdeploy serve`: the speech API over an engine, or with --router the hybrid router.

Settings come from a file (the pods' ConfigMap), a stack, or flags alone, flags winning. The runtime
and the router share every listening, admission and source flag (voxdeploy.cli.options); the engine
flags come from the engine registry there, so a router refuses exactly the flags that configure one.
"""

from __future__ import annotations

import argparse
import os
from typing import Any, get_args

from voxdeploy.cli.common import EXIT_OK, load_stack_from
from voxdeploy.cli.options import (
    add_engine_arguments,
    add_server_arguments,
    add_source_arguments,
    apply_server_flags,
    engine_document,
    given_engine_flags,
    read_settings_file,
)
from voxdeploy.contracts.router import RouterSettings, Tier
from voxdeploy.contracts.runtime import RuntimeConfig, SimEngine
from voxdeploy.contracts.voices import VoiceSettings

ROUTER_SOURCE = "voxdeploy serve --router"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Every `serve` flag: source, server, engine (from the registry), the simulator's load time, router."""
    add_source_arguments(parser)
    add_server_arguments(parser)
    add_engine_arguments(parser)
    parser.add_argument("--sim-load-seconds", type=float, default=0.0, help="pretend model load time (sim) [0]")
    router = parser.add_argument_group("hybrid router")
    router.add_argument(
        "--router",
        action="store_true",
        help="run the hybrid edge/fog/cloud router instead of a runtime (--config: its settings file)",
    )
    router.add_argument(
        "--tier",
        action="append",
        default=[],
        metavar="TIER=URL",
        help="an endpoint of a tier (edge, fog, cloud); repeat for more; replaces that tier's endpoints from --config",
    )
    router.add_argument(
        "--upstream-key",
        metavar="FILE",
        help="file holding the router's own key, sent to every tier (which lists it in its --forwarder-keys)",
    )


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    serve = sub.add_parser("serve", help="run the speech API (OpenAI-compatible) over an engine")
    add_arguments(serve)
    serve.set_defaults(handler=run)
    return serve


def run(args: argparse.Namespace) -> int:
    from voxdeploy.infra.config.errors import ConfigError, ConfigIssue

    if args.router:
        from voxdeploy.runtime.router.app import serve_router

        base = None
        if args.stack is not None:
            from voxdeploy.infra.builders.hybrid import router_settings

            base = router_settings(load_stack_from(args).config)
        serve_router(router_settings_from(args, base), args.log_format)
        return EXIT_OK
    if args.tier:
        raise ConfigError("voxdeploy serve", [ConfigIssue("--tier", args.tier, "only with --router")])
    if args.upstream_key is not None:
        raise ConfigError("voxdeploy serve", [ConfigIssue("--upstream-key", args.upstream_key, "only with --router")])
    from voxdeploy.runtime.app import serve

    serve(runtime_config(args), sim_load_seconds=args.sim_load_seconds, log_format=args.log_format)
    return EXIT_OK


def _validated(model: Any, document: dict[str, object], source: str, issues: list[Any]) -> Any:
    from pydantic import ValidationError

    from voxdeploy.infra.config.errors import ConfigError, issues_from_validation

    try:
        return model.model_validate(document)
    except ValidationError as err:
        raise ConfigError(source, issues + issues_from_validation(model, err)) from None


def embedded_voice_store() -> str:
    """SQLite in the user's data directory (XDG's), so voices made on one's own machine outlive the server."""
    home = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    directory = os.path.join(home, "voxdeploy")
    os.makedirs(directory, exist_ok=True)
    return f"sqlite:///{os.path.join(directory, 'voices.db')}"


def runtime_config(args: argparse.Namespace) -> RuntimeConfig:
    """Start from the file or stack (or the defaults), then apply the flags given (loopback unless --config).

    Everything is handled in the stack files' camelCase keys (model_dump serializes by alias).
    """
    if args.config is not None:
        base = _validated(RuntimeConfig, read_settings_file(args.config), str(args.config), [])
    elif args.stack is not None:
        from voxdeploy.infra.builders.cloud import runtime_settings

        base = runtime_settings(load_stack_from(args).config, in_pod=False)
    else:
        base = RuntimeConfig(engine=SimEngine(), voices=VoiceSettings(store=embedded_voice_store()))
    document = apply_server_flags(args, base.model_dump())
    document["engine"] = engine_document(args, base.engine.model_dump())
    return _validated(RuntimeConfig, document, "voxdeploy serve", [])


def _tier_flags(values: list[str]) -> tuple[dict[str, list[str]], list[Any]]:
    from voxdeploy.infra.config.errors import ConfigIssue

    endpoints: dict[str, list[str]] = {}
    issues = []
    for value in values:
        tier, _, url = value.partition("=")
        if tier not in get_args(Tier):
            issues.append(ConfigIssue("--tier", value, f"write TIER=URL, TIER one of {', '.join(get_args(Tier))}"))
        else:
            endpoints.setdefault(tier, []).append(url)
    return endpoints, issues


def router_settings_from(args: argparse.Namespace, base: RouterSettings | None = None) -> RouterSettings:
    """Settings from `base` (a stack's), else --config, else defaults; then the flags given (loopback unless --config).

    Flags apply to the validated base's camelCase dump, as for the runtime, so a file's snake_case key
    can never shadow a flag. Every problem is reported at once, naming the flag or the key.
    """
    from voxdeploy.infra.config.errors import ConfigError, ConfigIssue

    issues = []
    if args.engine is not None:
        issues.append(ConfigIssue("--engine", args.engine, "configures an engine; a router has none"))
    issues += [
        ConfigIssue(flag.flag, value, "configures an engine; a router has none")
        for flag, value in given_engine_flags(args)
    ]
    flagged, tier_issues = _tier_flags(args.tier)
    issues += tier_issues
    if base is None:
        start: dict[str, object] = read_settings_file(args.config) if args.config is not None else {}
        base = _validated(RouterSettings, {"endpoints": {}, **start}, ROUTER_SOURCE, issues)
    assert base is not None
    document = apply_server_flags(args, base.model_dump())
    document["endpoints"] = {**base.endpoints, **flagged}
    if args.config is None:
        document["upstreamKey"] = None  # the stack's names the pods' Secret volume, as for auth (apply_access_flags)
    if args.upstream_key is not None:
        document["upstreamKey"] = args.upstream_key
    settings: RouterSettings = _validated(RouterSettings, document, ROUTER_SOURCE, issues)
    if not any(settings.endpoints.values()):
        issues.append(
            ConfigIssue(
                "endpoints",
                dict(settings.endpoints),
                "no endpoint for any tier; give --tier TIER=URL or list endpoints in --config",
            )
        )
    issues += [
        ConfigIssue(f"endpoints.{tier}[{index}]", url, "must be an http(s) URL")
        for tier, urls in settings.endpoints.items()
        for index, url in enumerate(urls)
        if not url.startswith(("http://", "https://"))
    ]
    if issues:
        raise ConfigError(ROUTER_SOURCE, issues)
    return settings
