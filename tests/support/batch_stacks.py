"""Stack documents with a `batch:` section, shared by the Job's tests and the batch plan's."""

from __future__ import annotations

import copy

from tests.support.stacks import mutated

KEY = {"name": "voxcpm-api-keys", "key": "batch"}
BATCH = {
    "enabled": True,
    "input": "inputs/requests.jsonl",
    "volumeClaim": "batch-data",
    "shards": 8,
    "parallelism": 2,
    "concurrency": 6,
    "backoffLimitPerIndex": 2,
    "maxFailedIndexes": 3,
    "activeDeadlineSeconds": 43200,
    "ttlSecondsAfterFinished": 3600,
    "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"cpu": 2, "memory": "2Gi"}},
    "apiKeySecret": KEY,
}
"""A batch section setting every field (staging's pods check keys: auth.keysSecret voxcpm-api-keys)."""
SMALL = {"enabled": True, "volumeClaim": "batch-data", "shards": 2, "apiKeySecret": KEY}
"""A batch section that leaves the rest to the defaults."""


def with_batch(section: dict | None = None, base: str = "staging") -> dict:
    return mutated(base, "batch", copy.deepcopy(BATCH if section is None else section))


def at_zero(document: dict, latency: float = 3600) -> dict:
    """The document's cloud tier scaled to zero between batches, its SLO a batch tier's, and no load test (a tier at
    zero is no load test's target)."""
    document["config"]["voxdeploy:cloud"]["autoscaling"]["minReplicas"] = 0
    document["config"].pop("voxdeploy:loadtest", None)
    document["config"]["voxdeploy:slo"]["p95LatencySeconds"] = latency
    return document
