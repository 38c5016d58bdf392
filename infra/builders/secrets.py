"""Secrets as references only: an ExternalSecret that materialises the Secret, or nothing at all.

With `secrets.source: pulumi` the Secret itself is created by the Pulumi program from the stack's
encrypted value (infra/pulumi_program.py); it is never rendered, so GitOps output stays free of it.
"""

from __future__ import annotations

from voxdeploy.infra.builders import meta
from voxdeploy.infra.builders.workloads import KubeObject
from voxdeploy.infra.config.deployment import DeploymentConfig

EXTERNAL_SECRETS_API = "external-secrets.io/v1"


def hf_token_metadata(config: DeploymentConfig) -> dict[str, object]:
    """Name, namespace and labels of the Secret the pods read HF_TOKEN from."""
    reference = config.cloud.pod.model_cache.hf_token_secret
    assert reference is not None, "checked by secrets_have_a_source"
    return meta.metadata(config, reference.name, meta.labels(config, reference.name, "secrets"))


def external_secrets(config: DeploymentConfig) -> list[KubeObject]:
    secrets = config.secrets
    if secrets.source != "externalSecret" or secrets.store is None:
        return []
    reference = config.cloud.pod.model_cache.hf_token_secret
    if reference is None:
        return []  # the store may fill only the API-key Secrets (builders/auth.py)
    return [
        {
            "apiVersion": EXTERNAL_SECRETS_API,
            "kind": "ExternalSecret",
            "metadata": hf_token_metadata(config),
            "spec": {
                "refreshInterval": secrets.store.refresh_interval,
                "secretStoreRef": {"name": secrets.store.name, "kind": secrets.store.kind},
                "target": {"name": reference.name, "creationPolicy": "Owner"},
                "data": [{"secretKey": reference.key, "remoteRef": {"key": secrets.remote_keys["hfToken"]}}],
            },
        }
    ]
