"""From a Pulumi stack file (or Pulumi's own config) to a checked DeploymentConfig.

The CLI reads `stacks/Pulumi.<env>.yaml` itself and the Pulumi program gets the same keys from the
engine; both go through `config_from_keys`, so `voxdeploy render` and `pulumi up` see one config.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from voxdeploy.infra.config.access_checks import auth_secrets
from voxdeploy.infra.config.checks import cross_field_issues
from voxdeploy.infra.config.deployment import DeploymentConfig
from voxdeploy.infra.config.errors import FILE, MISSING, ConfigError, ConfigIssue, issues_from_validation
from voxdeploy.infra.config.safe_yaml import read_yaml_file
from voxdeploy.infra.config.secrets import SECRET_VALUE_KEYS

PROJECT = "voxdeploy"
"""Pulumi project name (Pulumi.yaml) and so the namespace of every config key."""

BUNDLED_STACKS = Path(str(resources.files("voxdeploy.stacks")))
"""The example stacks shipped in the package, used when the working directory has no stacks/."""


@dataclass(frozen=True)
class Stack:
    """A loaded stack: where it came from and its checked configuration."""

    name: str
    path: Path
    config: DeploymentConfig


def stack_path(stack: str, stacks_dir: Path | None = None) -> Path:
    """`prod` -> stacks/Pulumi.prod.yaml; a path to a file is taken as it is."""
    candidate = Path(stack)
    if candidate.suffix in (".yaml", ".yml") or os.path.isfile(candidate):
        return candidate
    directory = stacks_dir or (Path("stacks") if Path("stacks").is_dir() else BUNDLED_STACKS)
    return directory / f"Pulumi.{stack}.yaml"


def available_stacks(directory: Path) -> list[str]:
    """Stack names in a stacks directory, for 'did you mean' messages."""
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in directory.glob("Pulumi.*.yaml"))


def config_from_keys(keys: Mapping[str, object], source: str = "Pulumi config") -> dict[str, object]:
    """Pulumi config keys ('voxdeploy:cloud', or unqualified 'cloud') -> the config document.

    Keys of other namespaces (`kubernetes:context`, `pulumi:tags`) belong to Pulumi or providers. Both spellings
    of one key would leave one silently unread, so that is a ConfigError naming both.
    """
    document: dict[str, object] = {}
    spelled: dict[str, str] = {}
    issues = []
    for key, value in keys.items():
        namespace, _, name = key.rpartition(":")
        if namespace not in ("", PROJECT):
            continue
        if name in spelled:
            issues.append(ConfigIssue(key, MISSING, f"sets {name} again ({spelled[name]} already does); keep one"))
        spelled[name] = key
        document[name] = value
    if issues:
        raise ConfigError(source, issues)
    return document


def is_encrypted(value: object) -> bool:
    """A Pulumi secret as the stack file stores it: `{secure: <ciphertext>}`."""
    return isinstance(value, Mapping) and set(value) == {"secure"}


def split_secrets(
    document: Mapping[str, object], secret: Callable[[str, object], bool]
) -> tuple[dict[str, object], dict[str, object]]:
    """(config document, secret values): secret values never enter DeploymentConfig, so nothing built
    from it (rendered YAML, plans, logs) can carry one."""
    plain = {k: v for k, v in document.items() if not secret(k, v)}
    return plain, {k: v for k, v in document.items() if secret(k, v)}


def _secret_issues(config: DeploymentConfig, secret_names: Collection[str]) -> list[ConfigIssue]:
    """Pulumi secrets against what the stack references: hfToken whenever the source is pulumi and a token Secret
    is referenced; apiKeys and routerKey where given (else their Secrets exist out of band), each only for a
    Secret the stack references."""
    issues = [
        ConfigIssue(name, "(secret)", f"not a secret this project reads; secrets: {', '.join(SECRET_VALUE_KEYS)}")
        for name in sorted(secret_names)
        if name not in SECRET_VALUE_KEYS
    ]
    source = config.secrets.source
    token = config.cloud.pod.model_cache.hf_token_secret
    referenced = set(auth_secrets(config).values()) | ({"hfToken"} if token is not None else set())
    for name in sorted(set(secret_names) & set(SECRET_VALUE_KEYS)):
        if source != "pulumi":
            issues.append(
                ConfigIssue(
                    name,
                    "(secret)",
                    f"a Pulumi secret is set but secrets.source is {source!r}; set secrets.source: pulumi to have "
                    "pulumi up create it",
                )
            )
        elif name not in referenced:
            issues.append(ConfigIssue(name, "(secret)", f"set, but no Secret of this stack is filled from {name}"))
    if source == "pulumi" and token is not None and "hfToken" not in secret_names:
        issues.append(
            ConfigIssue(
                "hfToken", MISSING, "secrets.source is pulumi: set it with `pulumi config set --secret hfToken <token>`"
            )
        )
    if source == "pulumi" and token is None and not referenced & set(secret_names):
        issues.append(
            ConfigIssue(
                "secrets.source",
                source,
                "pulumi up would create no Secret: set hfToken (with cloud.pod.modelCache.hfTokenSecret) or apiKeys "
                "(a JSON object, key name -> key) with `pulumi config set --secret`",
            )
        )
    return issues


def parse_config(document: Mapping[str, object], source: str, secret_names: Collection[str] = ()) -> DeploymentConfig:
    """Validate a config document; raises ConfigError listing every problem with its path."""
    try:
        config = DeploymentConfig.model_validate(document)
    except ValidationError as err:
        raise ConfigError(source, issues_from_validation(DeploymentConfig, err)) from None
    issues = cross_field_issues(config) + _secret_issues(config, secret_names)
    if issues:
        raise ConfigError(source, issues)
    return config


def load_stack(stack: str, stacks_dir: Path | None = None) -> Stack:
    """Read and check a stack file; every failure is a ConfigError naming the file and the key."""
    path = stack_path(stack, stacks_dir)
    if not os.path.exists(path):
        known = available_stacks(path.parent) if os.path.isdir(path.parent) else []
        hint = (
            f"stacks in {path.parent}: {', '.join(known)}" if known else f"{path.parent} holds no Pulumi.<stack>.yaml"
        )
        close = difflib.get_close_matches(path.name.removeprefix("Pulumi.").removesuffix(".yaml"), known, n=1)
        if close:
            hint = f"did you mean '{close[0]}'? {hint}"
        raise ConfigError(str(path), [ConfigIssue(FILE, MISSING, f"no such stack file; {hint}")])
    raw = read_yaml_file(path)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            str(path),
            [ConfigIssue(FILE, MISSING, f"holds a {type(raw).__name__}: must be a mapping with a 'config' key")],
        )
    keys = raw.get("config", {})
    if not isinstance(keys, dict):
        raise ConfigError(str(path), [ConfigIssue("config", keys, "must be a mapping of 'voxdeploy:<key>' entries")])
    name = path.name.removeprefix("Pulumi.").removesuffix(".yaml").removesuffix(".yml")
    document, secrets = split_secrets(config_from_keys(keys, str(path)), lambda _, value: is_encrypted(value))
    return Stack(name=name, path=path, config=parse_config(document, str(path), secrets))
