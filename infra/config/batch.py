"""The stack's `batch:` section: a file of speech requests synthesized by a Kubernetes Indexed Job against the cloud
tier (the reference article's "cloud batch" mode), the requests and the results on one volume.

Each index of the Job is one shard of the input (`voxdeploy batch run --shards N`, the index from
JOB_COMPLETION_INDEX, which Kubernetes sets); a shard that fails is retried alone (backoffLimitPerIndex), a shard
the runner refuses as bad input is not retried at all, and a pod evicted or preempted does not count as a failure.
The runner is a client of the cloud Service like any other, so the cloud tier may scale to zero between batches
(cloud.autoscaling.minReplicas 0 with KEDA): the Job's presence wakes it.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from voxdeploy.contracts.base import StrictModel
from voxdeploy.infra.config.base import DnsLabel
from voxdeploy.infra.config.cloud import ComputeResources, Resources, SecretKeyRef

BATCH_DIR = "/batch"
"""Where the batch volume is mounted in the Job's pods; batch.input is relative to it."""
RESULTS_DIR = f"{BATCH_DIR}/results"
"""Where the runner writes the audio files, its journal and results (one results file per shard)."""
MAX_INDEXES = 100_000
"""Kubernetes' bound on completions and parallelism of an Indexed Job with backoffLimitPerIndex."""


class BatchConfig(StrictModel):
    """One batch of requests, run once by an Indexed Job: shards, retries, deadline, the pods' size and key."""

    enabled: bool = Field(False, description="Render the batch Job (needs the cloud tier, which it calls).")
    name: DnsLabel = Field("voxcpm-batch", description="Name of the Job and its ServiceAccount and NetworkPolicy.")
    input: str = Field(
        "requests.jsonl",
        min_length=1,
        description="The requests file, relative to the volume's root (mounted at /batch): OpenAI's batch JSON "
        "lines, plain text or CSV, as `voxdeploy batch run --input` reads them.",
    )
    volume_claim: DnsLabel | None = Field(
        None,
        description="PersistentVolumeClaim holding the input and, under results/, the output; mounted read-write at "
        "/batch. ReadWriteMany when parallelism > 1 and the pods may land on several nodes.",
    )
    shards: int = Field(
        1, ge=1, le=MAX_INDEXES, description="Shards the input is split into: the Job's completions, one index each."
    )
    parallelism: int = Field(1, ge=1, le=MAX_INDEXES, description="Shards run at once (<= shards).")
    concurrency: int = Field(4, ge=1, le=1024, description="Requests each pod keeps in flight.")
    backoff_limit_per_index: int = Field(
        3,
        ge=0,
        le=100,
        description="Retries of one shard before it is marked failed; a re-run skips the requests already done.",
    )
    max_failed_indexes: int | None = Field(
        None,
        ge=0,
        le=MAX_INDEXES,
        description="Failed shards after which the whole Job fails and stops; unset: every shard runs to its end.",
    )
    active_deadline_seconds: int | None = Field(
        None, ge=1, description="Longest the Job may run, from its start (a cold GPU tier included); unset: no limit."
    )
    ttl_seconds_after_finished: int | None = Field(
        86400,
        ge=0,
        le=2**31 - 1,
        description="Seconds a finished Job (and its pods' logs) is kept before Kubernetes deletes it; null keeps it. "
        "Kept is what GitOps wants: Argo CD or Flux would apply a deleted Job again, which runs the batch again "
        "(finding every request done, but waking the cloud tier).",
    )
    resources: Resources = Field(
        Resources(
            requests=ComputeResources(cpu="250m", memory="256Mi"), limits=ComputeResources(cpu="1", memory="1Gi")
        ),
        description="CPU and memory of a batch pod (an HTTP client: the GPUs are the cloud tier's).",
    )
    api_key_secret: SecretKeyRef | None = Field(
        None,
        description="Secret key holding the API key the pods send (VOXDEPLOY_API_KEY), e.g. a key of "
        "auth.keysSecret: {name: voxcpm-api-keys, key: batch}; required when the pods check keys.",
    )

    @field_validator("input")
    @classmethod
    def _inside_the_volume(cls, value: str) -> str:
        """The path is joined to the mount: an absolute one or `..` would read outside the batch volume."""
        if value.startswith("/") or ".." in value.split("/"):
            raise ValueError(f"must be a path inside the batch volume, relative to {BATCH_DIR}, e.g. requests.jsonl")
        return value

    @property
    def in_flight(self) -> int:
        """Requests the Job keeps in flight at most: its pods running at once, each at its concurrency."""
        return self.parallelism * self.concurrency
