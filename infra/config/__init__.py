"""Typed configuration of a voxdeploy environment: the one schema infra/ and runtime/ share."""

from voxdeploy.infra.config.cloud import CloudTier, VllmOmniEngine
from voxdeploy.infra.config.deployment import DeploymentConfig
from voxdeploy.infra.config.errors import ConfigError, ConfigIssue
from voxdeploy.infra.config.loader import PROJECT, Stack, config_from_keys, load_stack, parse_config

__all__ = [
    "PROJECT",
    "CloudTier",
    "ConfigError",
    "ConfigIssue",
    "DeploymentConfig",
    "Stack",
    "VllmOmniEngine",
    "config_from_keys",
    "load_stack",
    "parse_config",
]
