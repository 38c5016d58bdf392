"""API keys in the pods: the Secret volumes every runtime and the router mount, and the settings pointing at them.

Whole-Secret volumes, never `subPath` mounts: the kubelet updates a Secret volume in place (its atomic `..data`
swap) and never a subPath, so a rotated key reaches running pods without a restart. Files are readable by the
pods' group only (fsGroup), mounted read-only.

Tiers trust the caller's name the router forwards only from the router's own key, which is a Secret of its own:
tiers mount it as their forwarders, the router as its credential; callers' keys never include it.
"""

from __future__ import annotations

from voxdeploy.contracts.auth import ApiKeys
from voxdeploy.infra.builders import meta
from voxdeploy.infra.builders.secrets import EXTERNAL_SECRETS_API
from voxdeploy.infra.builders.workloads import KubeObject
from voxdeploy.infra.config.access_checks import checks_keys, router_key
from voxdeploy.infra.config.deployment import DeploymentConfig

SECRETS_DIR = "/var/run/secrets/voxdeploy"
KEYS_DIR = f"{SECRETS_DIR}/api-keys"
FORWARDERS_DIR = f"{SECRETS_DIR}/forwarders"
OWN_KEY_DIR = f"{SECRETS_DIR}/router-key"
SECRET_FILE_MODE = 0o440
"""Owner and group (the pods' fsGroup) may read the keys; nobody may write them."""

Volumes = tuple[list[dict[str, object]], list[dict[str, object]]]
"""(volumes, mounts) to add to a pod and its runtime container."""


def tier_auth(config: DeploymentConfig) -> ApiKeys | None:
    """A runtime pod's key settings: the callers' keys, and the router's as a forwarder."""
    if not checks_keys(config):
        return None
    forwarders = FORWARDERS_DIR if router_key(config) is not None else None
    return ApiKeys(
        keys=KEYS_DIR,
        forwarders=forwarders,
        max_concurrent_per_key=config.auth.max_concurrent_per_key,
        admins=config.voices.admin_keys,
    )


def router_auth(config: DeploymentConfig) -> ApiKeys | None:
    """The router pods' key settings: the callers' keys."""
    if not checks_keys(config):
        return None
    return ApiKeys(keys=KEYS_DIR, max_concurrent_per_key=config.auth.max_concurrent_per_key)


def upstream_key(config: DeploymentConfig) -> str | None:
    """The file the router reads its own key from."""
    own = router_key(config)
    return None if own is None else f"{OWN_KEY_DIR}/{own.key}"


def _secret_volume(name: str, secret: str, path: str, key: str | None = None) -> Volumes:
    source: dict[str, object] = {"secretName": secret, "defaultMode": SECRET_FILE_MODE}
    if key is not None:
        source["items"] = [{"key": key, "path": key}]
    return [{"name": name, "secret": source}], [{"name": name, "mountPath": path, "readOnly": True}]


def _joined(*parts: Volumes) -> Volumes:
    return [v for volumes, _ in parts for v in volumes], [m for _, mounts in parts for m in mounts]


def _key_volumes(config: DeploymentConfig, own_volume: str, own_dir: str) -> Volumes:
    """The callers' keys, and the router's key mounted as `own_volume` at `own_dir` when there is one."""
    secret = config.auth.keys_secret
    if not checks_keys(config) or secret is None:
        return [], []
    keys = _secret_volume("api-keys", secret, KEYS_DIR)
    own = router_key(config)
    if own is None:
        return keys
    return _joined(keys, _secret_volume(own_volume, own.name, own_dir, own.key))


def tier_volumes(config: DeploymentConfig) -> Volumes:
    """For a runtime pod: the callers' keys, and the router's key as a forwarder trusted to name its caller."""
    return _key_volumes(config, "forwarder-keys", FORWARDERS_DIR)


def router_volumes(config: DeploymentConfig) -> Volumes:
    """For a router pod: the callers' keys, and its own key for calling the tiers."""
    return _key_volumes(config, "router-key", OWN_KEY_DIR)


def external_secrets(config: DeploymentConfig) -> list[KubeObject]:
    """With secrets.source externalSecret, an ExternalSecret for each key Secret whose store key the stack gives
    (`secrets.remoteKeys.apiKeys`: one store entry whose properties are the key names; `routerKey`: one value);
    a key Secret without one exists out of band."""
    secrets = config.secrets
    if secrets.source != "externalSecret" or not checks_keys(config):
        return []
    found: list[KubeObject] = []
    keys, remote = config.auth.keys_secret, secrets.remote_keys.get("apiKeys")
    if keys is not None and remote is not None:
        found.extend(_external_secret(config, keys, {"dataFrom": [{"extract": {"key": remote}}]}))
    own, remote = router_key(config), secrets.remote_keys.get("routerKey")
    if own is not None and remote is not None:
        found.extend(
            _external_secret(config, own.name, {"data": [{"secretKey": own.key, "remoteRef": {"key": remote}}]})
        )
    return found


def _external_secret(config: DeploymentConfig, name: str, source: dict[str, object]) -> list[KubeObject]:
    store = config.secrets.store
    if store is None:
        return []  # refused by secrets_have_a_source
    return [
        {
            "apiVersion": EXTERNAL_SECRETS_API,
            "kind": "ExternalSecret",
            "metadata": meta.metadata(config, name, meta.labels(config, name, "secrets")),
            "spec": {
                "refreshInterval": store.refresh_interval,
                "secretStoreRef": {"name": store.name, "kind": store.kind},
                "target": {"name": name, "creationPolicy": "Owner"},
                **source,
            },
        }
    ]
