"""`voxdeploy serve --router` options -> RouterSettings: a settings file (the router pods' ConfigMap) or
flags alone, flags winning; `--tier` and the admission flags add to the options `voxdeploy serve` has.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import get_args

import yaml
from pydantic import ValidationError

from voxdeploy.contracts.router import RouterSettings, Tier
from voxdeploy.infra.config.errors import MISSING, ConfigError, ConfigIssue, issues_from_validation

SOURCE = "voxdeploy serve --router"
ENGINE_ONLY = (
    "engine",
    "sim_rtf",
    "sim_first_audio",
    "sim_batch_capacity",
    "checkpoint",
    "device",
    "compile",
    "engine_command",
    "engine_port",
)
"""`voxdeploy serve` options that configure an engine, which a router does not have."""


def add_router_arguments(parser: argparse.ArgumentParser) -> None:
    """The router's own flags; --config, --host, --port and the admission flags are `serve`'s."""
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


def _from_file(path: Path) -> dict[str, object]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(str(path), [ConfigIssue("(file)", MISSING, f"cannot read: {err}")]) from None
    if not isinstance(document, dict):
        raise ConfigError(str(path), [ConfigIssue("(root)", document, "must be a mapping of router settings")])
    return document


def _tier_flags(values: list[str]) -> tuple[dict[str, list[str]], list[ConfigIssue]]:
    endpoints: dict[str, list[str]] = {}
    issues = []
    for value in values:
        tier, _, url = value.partition("=")
        if tier not in get_args(Tier):
            issues.append(ConfigIssue("--tier", value, f"write TIER=URL, TIER one of {', '.join(get_args(Tier))}"))
        else:
            endpoints.setdefault(tier, []).append(url)
    return endpoints, issues


def _validated(document: dict[str, object], issues: list[ConfigIssue]) -> RouterSettings:
    try:
        return RouterSettings.model_validate(document)
    except ValidationError as err:
        raise ConfigError(SOURCE, issues + issues_from_validation(RouterSettings, err)) from None


def router_settings_from(args: argparse.Namespace, base: RouterSettings | None = None) -> RouterSettings:
    """Settings from `base` (a stack's), else --config, else defaults on loopback; then the flags given.

    Flags apply to the validated base's camelCase dump, as `voxdeploy serve` does, so a file's snake_case
    key can never shadow a flag. Every problem is reported at once, naming the flag or the key.
    """
    issues = [
        ConfigIssue(f"--{name.replace('_', '-')}", getattr(args, name), "configures an engine; a router has none")
        for name in ENGINE_ONLY
        if getattr(args, name, None) is not None
    ]
    flagged, tier_issues = _tier_flags(args.tier)
    issues += tier_issues
    if base is None:
        document = _from_file(args.config) if args.config is not None else {"host": "127.0.0.1"}
        base = _validated({"endpoints": {}, **document}, issues)
    document = base.model_dump()
    document["endpoints"] = {**base.endpoints, **flagged}
    server = document["server"]
    for key, value in (
        ("port", args.port),
        ("maxConcurrentRequests", args.max_concurrent),
        ("maxQueuedRequests", args.max_queue),
        ("requestTimeoutSeconds", args.request_timeout),
    ):
        if value is not None:
            server[key] = value  # type: ignore[index]
    if args.host is not None:
        document["host"] = args.host
    settings = _validated(document, issues)
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
        raise ConfigError(SOURCE, issues)
    return settings
