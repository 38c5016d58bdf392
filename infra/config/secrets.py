"""Where secret values come from. Rendered YAML never holds one: it references a Secret that exists,
that the External Secrets Operator materialises, or that `pulumi up` creates from a Pulumi secret.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from voxdeploy.contracts.base import StrictModel
from voxdeploy.infra.config.base import DnsLabel

SECRET_VALUE_KEYS = ("hfToken",)
"""Stack keys that may hold a Pulumi secret (`voxdeploy:hfToken: {secure: ...}`); never part of the config."""


class ExternalStore(StrictModel):
    """An External Secrets Operator store the cluster already has."""

    name: DnsLabel = Field(..., description="SecretStore or ClusterSecretStore name.")
    kind: Literal["SecretStore", "ClusterSecretStore"] = Field("ClusterSecretStore", description="Store kind.")
    refresh_interval: str = Field("1h", pattern=r"^\d+[smh]$", description="How often the Secret is refreshed.")


class SecretsConfig(StrictModel):
    """How Secrets referenced by the workloads (the Hugging Face token) come to exist."""

    source: Literal["existing", "pulumi", "externalSecret"] = Field(
        "existing",
        description="existing: created out of band; pulumi: `pulumi up` creates it from the stack's Pulumi secret "
        "(voxdeploy:hfToken); externalSecret: an ExternalSecret (external-secrets.io) creates it from a store.",
    )
    store: ExternalStore | None = Field(None, description="The store, when source is externalSecret.")
    remote_keys: dict[str, str] = Field(
        {}, description="Secret value key (hfToken) -> key in the external store, when source is externalSecret."
    )
