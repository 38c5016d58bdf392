"""Typed configuration of a voxdeploy environment: the one schema infra/ and runtime/ share."""

from infra.config.cloud import CloudTier, VllmOmniEngine
from infra.config.deployment import DeploymentConfig, SloTargets
from infra.config.errors import ConfigError, ConfigIssue
from infra.config.loader import PROJECT, Stack, config_from_keys, load_stack, parse_config

__all__ = [
    "PROJECT",
    "CloudTier",
    "ConfigError",
    "ConfigIssue",
    "DeploymentConfig",
    "SloTargets",
    "Stack",
    "VllmOmniEngine",
    "config_from_keys",
    "load_stack",
    "parse_config",
]
