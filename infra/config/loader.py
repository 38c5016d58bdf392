"""From a Pulumi stack file (or Pulumi's own config) to a checked DeploymentConfig.

The CLI reads `stacks/Pulumi.<env>.yaml` itself and the Pulumi program gets the same keys from the
engine; both go through `config_from_keys`, so `voxdeploy render` and `pulumi up` see one config.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from voxdeploy.infra.config.checks import cross_field_issues
from voxdeploy.infra.config.deployment import DeploymentConfig
from voxdeploy.infra.config.errors import MISSING, ConfigError, ConfigIssue, issues_from_validation
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
    if candidate.suffix in (".yaml", ".yml") or candidate.is_file():
        return candidate
    directory = stacks_dir or (Path("stacks") if Path("stacks").is_dir() else BUNDLED_STACKS)
    return directory / f"Pulumi.{stack}.yaml"


def available_stacks(directory: Path) -> list[str]:
    """Stack names in a stacks directory, for 'did you mean' messages."""
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in directory.glob("Pulumi.*.yaml"))


def config_from_keys(keys: Mapping[str, object]) -> dict[str, object]:
    """Pulumi config keys ('voxdeploy:cloud', or unqualified 'cloud') -> the config document.

    Keys of other namespaces (`kubernetes:context`, `pulumi:tags`) belong to Pulumi or providers.
    """
    document: dict[str, object] = {}
    for key, value in keys.items():
        namespace, _, name = key.rpartition(":")
        if namespace in ("", PROJECT):
            document[name] = value
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
    issues = [
        ConfigIssue(name, "(secret)", f"not a secret this project reads; secrets: {', '.join(SECRET_VALUE_KEYS)}")
        for name in sorted(secret_names)
        if name not in SECRET_VALUE_KEYS
    ]
    if "hfToken" in secret_names and config.secrets.source != "pulumi":
        issues.append(
            ConfigIssue(
                "hfToken",
                "(secret)",
                f"a Pulumi secret is set but secrets.source is "
                f"{config.secrets.source!r}; set secrets.source: pulumi to have pulumi up create it",
            )
        )
    if config.secrets.source == "pulumi" and "hfToken" not in secret_names:
        issues.append(
            ConfigIssue(
                "hfToken", MISSING, "secrets.source is pulumi: set it with `pulumi config set --secret hfToken <token>`"
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


def _read_yaml(path: Path) -> object:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(
            str(path), [ConfigIssue("(file)", MISSING, f"not valid YAML at {where}: {problem}")]
        ) from None
    except UnicodeDecodeError as err:
        raise ConfigError(str(path), [ConfigIssue("(file)", MISSING, f"not UTF-8 text: {err}")]) from None


def load_stack(stack: str, stacks_dir: Path | None = None) -> Stack:
    """Read and check a stack file; every failure is a ConfigError naming the file and the key."""
    path = stack_path(stack, stacks_dir)
    if not path.is_file():
        known = available_stacks(path.parent) if path.parent.is_dir() else []
        hint = (
            f"stacks in {path.parent}: {', '.join(known)}" if known else f"{path.parent} holds no Pulumi.<stack>.yaml"
        )
        close = difflib.get_close_matches(path.name.removeprefix("Pulumi.").removesuffix(".yaml"), known, n=1)
        if close:
            hint = f"did you mean '{close[0]}'? {hint}"
        raise ConfigError(str(path), [ConfigIssue("(file)", MISSING, f"no such stack file; {hint}")])
    raw = _read_yaml(path)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            str(path), [ConfigIssue("(file)", type(raw).__name__, "must be a mapping with a 'config' key")]
        )
    keys = raw.get("config", {})
    if not isinstance(keys, dict):
        raise ConfigError(str(path), [ConfigIssue("config", keys, "must be a mapping of 'voxdeploy:<key>' entries")])
    name = path.name.removeprefix("Pulumi.").removesuffix(".yaml").removesuffix(".yml")
    document, secrets = split_secrets(config_from_keys(keys), lambda _, value: is_encrypted(value))
    return Stack(name=name, path=path, config=parse_config(document, str(path), secrets))
