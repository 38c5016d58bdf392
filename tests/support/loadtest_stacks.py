"""Stack documents with a `loadtest:` section, for the load-test Jobs' tests."""

from __future__ import annotations

import copy

from tests.support.stacks import mutated

KEY = {"name": "voxcpm-api-keys", "key": "loadtest"}
LOADTEST = {
    "enabled": True,
    "name": "gate",
    "target": "cloud",
    "workers": 3,
    "users": 120,
    "spawnRate": 7.5,
    "duration": "1h30m",
    "scenario": "burst",
    "sizes": "short=0.6,long=0.4",
    "languages": "en=1",
    "streamRatio": 0.25,
    "volumeClaim": "loadtest-reports",
    "image": {"repository": "ghcr.io/voxdeploy/loadtest", "tag": "0.2.0", "pullPolicy": "Always"},
    "resources": {
        "master": {"requests": {"cpu": "300m", "memory": "384Mi"}, "limits": {"cpu": 2, "memory": "2Gi"}},
        "worker": {"requests": {"cpu": 1, "memory": "1Gi"}, "limits": {"cpu": 1, "memory": "1536Mi"}},
    },
    "apiKeySecret": KEY,
    "activeDeadlineSeconds": 7200,
    "ttlSecondsAfterFinished": 600,
}
"""A load-test section setting every field (staging's pods check keys: auth.keysSecret voxcpm-api-keys)."""
SMALL = {"enabled": True, "apiKeySecret": KEY}
"""A load-test section that leaves the rest to the defaults."""


def with_loadtest(section: dict | None = None, base: str = "staging") -> dict:
    return mutated(base, "loadtest", copy.deepcopy(LOADTEST if section is None else section))
