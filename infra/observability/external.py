"""Series the rules read that the voxdeploy runtime does not export, named in one place.

The runtime's own names come from voxdeploy/contracts/metrics.py; these come from Prometheus itself and
from kube-state-metrics (v2 names and labels), which a cluster running the prometheus-operator stack
already scrapes. Tests that check our rules against the runtime's /metrics skip exactly these.
"""

from __future__ import annotations

UP = "up"
"""Prometheus' own per-target health series: 1 when the last scrape succeeded."""

HPA_CURRENT_REPLICAS = "kube_horizontalpodautoscaler_status_current_replicas"
HPA_MAX_REPLICAS = "kube_horizontalpodautoscaler_spec_max_replicas"
HPA_LABEL = "horizontalpodautoscaler"
"""kube-state-metrics' label carrying the HPA's name."""

DEPLOYMENT_AVAILABLE_REPLICAS = "kube_deployment_status_replicas_available"
DEPLOYMENT_LABEL = "deployment"
"""kube-state-metrics' label carrying the Deployment's name."""
JOB_ACTIVE = "kube_job_status_active"
"""Pods of a Job pending or running: what wakes a cloud tier scaled to zero while its batch Job runs."""
JOB_LABEL = "job_name"
"""kube-state-metrics' label carrying the Job's name."""

NAMES: frozenset[str] = frozenset(
    {UP, HPA_CURRENT_REPLICAS, HPA_MAX_REPLICAS, DEPLOYMENT_AVAILABLE_REPLICAS, JOB_ACTIVE}
)
