"""Who may reach the pods: when they check API keys, which Secrets hold the keys, and the cross-field rules of
`auth` and the metrics port (listed in checks.CHECKS). The builders (infra/builders/auth.py) read the same
answers from here, so `validate` and the rendered pods cannot disagree."""

from __future__ import annotations

from collections.abc import Iterator

from voxdeploy.contracts.runtime import RuntimeServer
from voxdeploy.infra.config.cloud import SecretKeyRef
from voxdeploy.infra.config.deployment import DeploymentConfig
from voxdeploy.infra.config.errors import MISSING, ConfigIssue


def has_pods(config: DeploymentConfig) -> bool:
    """Whether the stack runs any server: the cloud tier, an edge pool or the router."""
    return config.cloud.enabled or (config.edge.enabled and bool(config.edge.pools)) or config.hybrid.enabled


def checks_keys(config: DeploymentConfig) -> bool:
    """Whether the pods check API keys (pods_check_keys refuses a stack with keys required and no Secret)."""
    return config.auth.required and config.auth.keys_secret is not None


def router_key(config: DeploymentConfig) -> SecretKeyRef | None:
    """The router's own key, where a router calls tiers that check keys."""
    return config.auth.router_key_secret if checks_keys(config) and config.hybrid.enabled else None


def auth_secrets(config: DeploymentConfig) -> dict[str, str]:
    """Secret name -> the secret value key that fills it (apiKeys, routerKey), for every key Secret the pods mount."""
    found: dict[str, str] = {}
    if checks_keys(config) and config.auth.keys_secret is not None:
        found[config.auth.keys_secret] = "apiKeys"
    own = router_key(config)
    if own is not None:
        found[own.name] = "routerKey"
    return found


def pods_check_keys(config: DeploymentConfig) -> Iterator[ConfigIssue]:
    """A pod never serves the API to anyone who reaches it unless the stack says so in writing."""
    auth = config.auth
    if not has_pods(config):
        return
    if auth.required and auth.keys_secret is None:
        yield ConfigIssue(
            "auth.keysSecret",
            MISSING,
            "the pods would serve the API to anyone who can reach them: name the Secret of the callers' keys (one "
            "data key per key name), or write auth.required: false where something in front authenticates",
        )
    if checks_keys(config) and config.hybrid.enabled and auth.router_key_secret is None:
        yield ConfigIssue(
            "auth.routerKeySecret",
            MISSING,
            "the router calls tiers that check keys: name the Secret and key holding the router's own key",
        )


def auth_settings_are_used(config: DeploymentConfig) -> Iterator[ConfigIssue]:
    """A key setting nothing reads is a mistake waiting to be believed: say so, rather than render without it."""
    auth = config.auth
    if not auth.required and (auth.keys_secret is not None or auth.router_key_secret is not None):
        yield ConfigIssue(
            "auth.required",
            False,
            "no pod checks keys, yet keysSecret or routerKeySecret is set: remove them, or set required: true",
        )
    if auth.router_key_secret is not None and not config.hybrid.enabled:
        yield ConfigIssue("auth.routerKeySecret", auth.router_key_secret.name, "no router is deployed (hybrid)")
    if auth.router_key_secret is not None and auth.router_key_secret.name == auth.keys_secret:
        yield ConfigIssue(
            "auth.routerKeySecret.name",
            auth.router_key_secret.name,
            "must be a Secret of its own, not auth.keysSecret: a caller holding the router's key could name any caller",
        )


def metrics_ports_are_free(config: DeploymentConfig) -> Iterator[ConfigIssue]:
    """Each pod's /metrics port is neither its API port nor its engine's."""
    # Deferred: the pods' default metrics port is the builders' (workloads.pod_server), and builders import this.
    from voxdeploy.infra.builders.workloads import pod_server

    tiers: list[tuple[str, RuntimeServer, int | None]] = (
        [("cloud.server", config.cloud.server, config.cloud.engine.port)] if config.cloud.enabled else []
    )
    if config.edge.enabled and config.edge.pools:
        tiers.append(("edge.server", config.edge.server, config.edge.engine_port))
    if config.hybrid.enabled:
        tiers.append(("hybrid.server", config.hybrid.server, None))
    for at, server, engine_port in tiers:
        metrics = pod_server(server).metrics_port
        if metrics in (server.port, engine_port):
            yield ConfigIssue(
                f"{at}.metricsPort",
                metrics,
                f"the pods' /metrics port must differ from {at}.port ({server.port}) and the engine's port; set "
                f"{at}.metricsPort to a free one",
            )


ACCESS_CHECKS = (pods_check_keys, auth_settings_are_used, metrics_ports_are_free)
