"""API keys of the stack's pods: the cloud runtime, every edge pool and the router check the same callers' keys.

The keys are a Secret's data (key name -> key) that the pods mount read-only; the Secret comes to exist as every
referenced Secret does (`secrets.source`: out of band, an ExternalSecret, or `pulumi up`). A pod never serves the
API without keys unless the stack writes `auth.required: false`: `validate` refuses a stack with pods and neither.
"""

from __future__ import annotations

from pydantic import Field

from voxdeploy.contracts.base import StrictModel
from voxdeploy.infra.config.base import DnsLabel
from voxdeploy.infra.config.cloud import SecretKeyRef


class AuthConfig(StrictModel):
    """Who may call the API of the stack's pods (`Authorization: Bearer <key>`, the OpenAI client's api_key)."""

    required: bool = Field(
        True,
        description="Pods check API keys from keysSecret on every path but /health, /ready, /metrics and "
        "/openapi.json. false serves the API to anyone who can reach a pod: write it only where something in front "
        "authenticates every request.",
    )
    keys_secret: DnsLabel | None = Field(
        None,
        description="Secret of the callers' keys: each data key is a key's name (what logs and metrics show), its "
        "value the key, at least 16 characters (`kubectl create secret generic NAME --from-file=DIR`, one file per "
        "key). Mounted read-only into every pod; a changed Secret is in force without a restart once the kubelet "
        "has synced the volume (about a minute).",
    )
    router_key_secret: SecretKeyRef | None = Field(
        None,
        description="The router's own key (hybrid only): the router sends it to every tier with the caller's key "
        "name, and the tiers trust that name only from this key. Its own Secret, not a key of keysSecret, so no "
        "caller holds it.",
    )
    max_concurrent_per_key: int | None = Field(
        None,
        ge=1,
        le=100_000,
        description="Most requests one key may have in flight and queued at once, per pod (router and tiers alike); "
        "beyond it 429 with Retry-After. Unset: half of each pod's maxConcurrentRequests + maxQueuedRequests.",
    )
