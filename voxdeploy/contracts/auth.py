"""Who may call the speech API: the API-key settings the runtime and the router read.

A contract: the builders point these paths at the Secret volumes they mount, `voxdeploy serve --api-keys` at a
directory of one's own; the servers read the files and never the Kubernetes API.
"""

from __future__ import annotations

from pydantic import Field

from voxdeploy.contracts.base import StrictModel

KEY_NAME_PATTERN = r"[-._a-zA-Z0-9]{1,253}"
"""A key's name: what a Secret's data key may be, so a Secret volume makes it a file name. Names are what logs,
metrics and the router's forwarded identity show; the keys themselves appear nowhere but in their files."""


RELOAD_SECONDS = 5.0
"""How often at most key files are read again (ApiKeys.reloadSeconds; also the router's own key)."""


class ApiKeys(StrictModel):
    """API keys: every request to /v1/* needs `Authorization: Bearer <key>` (what the OpenAI client sends from
    `api_key`); /health, /ready, /metrics and /openapi.json stay open."""

    keys: str = Field(
        ...,
        min_length=1,
        description="Directory of the callers' keys, one file per key, named by the key's name and holding the key "
        "(a mounted Secret, whose data keys become the files; `kubectl create secret generic NAME --from-file=DIR` "
        "makes one from such a directory). Files whose names start with a dot are skipped (the kubelet's `..data`). "
        "Re-read when it changes, without a restart.",
    )
    forwarders: str | None = Field(
        None,
        min_length=1,
        description="Directory of the keys of routers in front of this server, in the same form. A request with one "
        "of these keys may name its caller in X-Voxdeploy-Caller (a key name the router checked); the caller's name "
        "then stands for it in the per-key limit, logs and metrics. The header is ignored from any other key.",
    )
    max_concurrent_per_key: int | None = Field(
        None,
        ge=1,
        le=100_000,
        description="Most requests one key (or forwarded caller) may have in flight and queued at once in this "
        "process; beyond it 429 with Retry-After, so one client cannot starve the rest. Unset: half of "
        "server.maxConcurrentRequests + server.maxQueuedRequests (at least 1).",
    )
    admins: list[str] = Field(
        [],
        description="Names of the keys (files of `keys`) that may change the voice library (POST and DELETE "
        "/v1/audio/voices); every key may read it. Empty: no key may change it.",
    )
    reload_seconds: float = Field(
        RELOAD_SECONDS,
        gt=0,
        le=600,
        description="The key files are read again at most this often, when a request needs them; a changed Secret "
        "is in force within this after the kubelet has updated the volume (its sync period, about a minute).",
    )
