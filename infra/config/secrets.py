"""Where secret values come from. Rendered YAML never holds one: it references a Secret that exists,
that the External Secrets Operator materialises, or that `pulumi up` creates from a Pulumi secret.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field

from voxdeploy.contracts.base import StrictModel
from voxdeploy.infra.config.base import DnsLabel

SECRET_VALUE_KEYS = ("hfToken", "apiKeys", "routerKey")
"""Stack keys that may hold a Pulumi secret (`voxdeploy:hfToken: {secure: ...}`); never part of the config. apiKeys
is a JSON object (key name -> key) filling auth.keysSecret, routerKey the router's key (auth.routerKeySecret)."""

SECRET_NAME_WORDS = (
    "TOKEN",
    "SECRET",
    "SECRETS",
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "KEY",
    "KEYS",
    "CREDENTIAL",
    "CREDENTIALS",
)
"""Words that name a secret when a part of a variable's name ends in one (HF_TOKEN, OPENAI_APIKEY, DB_PASSWORD,
awsSecretKeys); parts, not substrings, so TOKENIZERS_PARALLELISM or MAX_TOKENS are not taken for one."""

_START = r"(?<![A-Za-z0-9])"
SECRET_VALUE_SHAPES = {
    "a Hugging Face token": _START + r"hf_[A-Za-z0-9]{30,}",
    "an OpenAI-style API key": _START + r"sk-[A-Za-z0-9_-]{20,}",
    "a GitHub token": _START + r"(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})",
    "a GitLab token": _START + r"glpat-[A-Za-z0-9_-]{20,}",
    "a Slack token": _START + r"xox[abprs]-[A-Za-z0-9-]{10,}",
    "an AWS access key id": _START + r"(AKIA|ASIA)[0-9A-Z]{16}",
    "a private key": r"-----BEGIN [A-Z ]{0,40}PRIVATE KEY-----",
    "a password in a URL": r"://[^/\s:@]+:[^/\s@]+@",
}
"""What well-known credentials look like, wherever they stand in a value. Each starts with a literal, so a search
stays linear in a megabyte of text."""

_NAME_PARTS = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")
_SECRET_VALUE = {what: re.compile(shape) for what, shape in SECRET_VALUE_SHAPES.items()}


def names_a_secret(name: str) -> bool:
    """Whether an environment variable's name says it holds a secret (HF_TOKEN, apiKey, DB_PASSWORD...)."""
    parts = [part.upper() for part in _NAME_PARTS.split(name) if part]
    return any(part.endswith(SECRET_NAME_WORDS) for part in parts)


def secret_shape(value: str) -> str | None:
    """What kind of credential `value` holds, by its shape (an hf_... token, an sk-... key...), or None."""
    return next((what for what, shape in _SECRET_VALUE.items() if shape.search(value)), None)


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
        {},
        description="Secret value key -> key in the external store, when source is externalSecret: hfToken; apiKeys "
        "(an entry whose properties are the key names, for auth.keysSecret); routerKey (auth.routerKeySecret). "
        "An API-key Secret without one exists out of band.",
    )
