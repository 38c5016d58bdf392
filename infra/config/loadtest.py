"""The stack's `loadtest:` section: the release gate run inside the cluster, Locust distributed over pods.

A master Job runs `voxdeploy loadtest` against one of the stack's own Services (the cloud tier's or the router's),
waits for its workers, judges the run by the stack's `slo:` and exits with the verdict (0 passed, 1 failed); a
worker Job runs the Locust workers that make the requests. The master's exit status is the gate: its Job is never
retried, so a failed gate is a failed Job, never a second try that happens to pass.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator

from voxdeploy.contracts.base import StrictModel
from voxdeploy.infra.config.base import DNS_LABEL, DnsLabel
from voxdeploy.infra.config.cloud import ComputeResources, Image, Resources, SecretKeyRef

LoadTestTarget = Literal["cloud", "router"]
LoadTestScenario = Literal["steady", "burst"]

REPORT_DIR = "/results"
"""Where the master writes summary.json, report.html and Locust's own reports (the volume claim, else an
emptyDir: then the summary reaches the master's log, `--log-summary`)."""
DEADLINE_MARGIN_SECONDS = 900
"""Time the Jobs get beyond the test's duration when activeDeadlineSeconds is unset: the image pull and start of
the pods, the master's wait for its workers (the runner gives up after 300 s), Locust's stop and the reports."""
MAX_WORKERS = 1000
"""Locust workers one master is given here; each is one pod (one core: a worker is a single gevent process)."""
NAME_SUFFIX = "-master"
"""The longest suffix a load test's objects add to its name (`<name>-master`, `<name>-worker`)."""
LoadTestName = Annotated[str, Field(pattern=DNS_LABEL, max_length=63 - len(NAME_SUFFIX))]
"""A DNS label that leaves room for the suffix (Job names end up in a label of its pods, 63 characters at most)."""
_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?")
_MIX = re.compile(r"[a-z][a-z0-9_-]*=\d+(?:\.\d+)?(?:,[a-z][a-z0-9_-]*=\d+(?:\.\d+)?)*")


def duration_seconds(text: str) -> int:
    """Locust's run-time forms (90, 90s, 5m, 1h30m) -> seconds; ValueError for anything else or zero."""
    match = _DURATION.fullmatch(text)
    if not text or match is None or not any(match.groups()):
        raise ValueError(f"{text!r} is not a Locust duration; use e.g. 90s, 5m or 1h30m")
    hours, minutes, seconds = (int(group) if group else 0 for group in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise ValueError("must be longer than 0 s")
    return total


class LoadTestResources(StrictModel):
    """CPU and memory of the master's pod and of each worker's (HTTP clients: the GPUs are the target's)."""

    master: Resources = Field(
        Resources(
            requests=ComputeResources(cpu="250m", memory="256Mi"), limits=ComputeResources(cpu="1", memory="1Gi")
        ),
        description="The master: spreads the users, gathers the workers' records, computes and judges the figures.",
    )
    worker: Resources = Field(
        Resources(
            requests=ComputeResources(cpu="500m", memory="512Mi"), limits=ComputeResources(cpu="1", memory="1Gi")
        ),
        description="One worker: its share of the users, one core at most (a worker is a single gevent process).",
    )


class LoadTestConfig(StrictModel):
    """A distributed Locust run against one of the stack's Services, judged by the stack's `slo:`."""

    enabled: bool = Field(False, description="Render the load-test Jobs (needs the target tier, which they load).")
    name: LoadTestName = Field(
        "voxcpm-loadtest",
        description="Name of the ServiceAccount and stack ConfigMap; the Jobs, Service and NetworkPolicies add "
        "-master and -worker.",
    )
    target: LoadTestTarget = Field(
        "cloud",
        description="The in-cluster Service the test loads: cloud (the GPU tier's) or router (the hybrid router's); "
        "that tier must be enabled.",
    )
    workers: int = Field(
        2, ge=1, le=MAX_WORKERS, description="Locust workers, one pod each: the worker Job's completions."
    )
    users: int = Field(50, ge=1, le=100_000, description="Concurrent simulated users, spread over the workers.")
    spawn_rate: float = Field(10.0, gt=0, le=10_000, description="Users started per second.")
    duration: str = Field("5m", description="How long the load runs, in Locust's forms: 90s, 5m, 1h30m.")
    scenario: LoadTestScenario = Field("steady", description="steady users, or bursts up to `users`.")
    sizes: str | None = Field(
        None,
        description="Text length mix, e.g. short=0.5,medium=0.35,long=0.15 (`voxdeploy loadtest --sizes`); unset: "
        "the load test's default.",
    )
    languages: str | None = Field(
        None, description="Language mix, e.g. en=0.5,zh=0.5 (`--languages`); unset: the load test's default."
    )
    stream_ratio: float = Field(0.5, ge=0, le=1, description="Share of streamed requests.")
    volume_claim: DnsLabel | None = Field(
        None,
        description="PersistentVolumeClaim the master writes its reports to (mounted at /results); unset: an "
        "emptyDir, and the summary goes to the master's log.",
    )
    image: Image | None = Field(
        None,
        description="Image of the master and workers; unset: the target tier's runtime image (the batch Job's for "
        "the cloud tier). It must hold voxdeploy with its loadtest extra (Locust).",
    )
    resources: LoadTestResources = Field(LoadTestResources(), description="The master's and each worker's size.")
    api_key_secret: SecretKeyRef | None = Field(
        None,
        description="Secret key holding the API key the workers send (VOXDEPLOY_API_KEY), e.g. a key of "
        "auth.keysSecret: {name: voxcpm-api-keys, key: loadtest}; required when the target's pods check keys.",
    )
    active_deadline_seconds: int | None = Field(
        None,
        ge=1,
        description="Longest either Job may run, from its start; unset: the duration plus 900 s (pods starting, "
        "the master waiting for its workers, the reports).",
    )
    ttl_seconds_after_finished: int | None = Field(
        86400,
        ge=0,
        le=2**31 - 1,
        description="Seconds finished Jobs (and their pods' logs, the summary among them) are kept before "
        "Kubernetes deletes them; null keeps them. Kept is what GitOps wants: Argo CD or Flux would apply a "
        "deleted Job again, which runs the test again.",
    )

    @field_validator("duration")
    @classmethod
    def _a_locust_duration(cls, value: str) -> str:
        duration_seconds(value)
        return value

    @field_validator("sizes", "languages")
    @classmethod
    def _a_mix(cls, value: str | None) -> str | None:
        """Only the shape: which names a mix may use is the load test's (its corpus), checked when it starts."""
        if value is not None and not _MIX.fullmatch(value):
            raise ValueError(f"{value!r} is not a mix; write name=weight pairs, e.g. short=0.6,long=0.4")
        return value

    @property
    def duration_seconds(self) -> int:
        return duration_seconds(self.duration)

    @property
    def deadline_seconds(self) -> int:
        """Both Jobs' activeDeadlineSeconds: the explicit one, else the duration with its margin."""
        if self.active_deadline_seconds is not None:
            return self.active_deadline_seconds
        return self.duration_seconds + DEADLINE_MARGIN_SECONDS
