"""Every policy rule, in report order: id, default severity and check (a stack re-grades with policy.severities).

Errors are what would fail in the cluster or break an SLO (pods refused by Pod Security, Pending GPU pods, names
that point at nothing,
hung drains, scale-ups refused by the quota, unsized or unprobed pods, moving images); a warning is a
hardening the stack should adopt (a digest in prod), or something that silently does nothing until fixed
(rules no Prometheus selects).
"""

from __future__ import annotations

from voxdeploy.infra.config import rule_ids as ids
from voxdeploy.infra.policy import capacity, containers, monitoring, pod_security, references
from voxdeploy.infra.policy.violations import Rule

RULES: tuple[Rule, ...] = (
    Rule(ids.PSS_HOST_NAMESPACES, "error", pod_security.host_namespaces),
    Rule(ids.PSS_PRIVILEGED, "error", pod_security.privileged),
    Rule(ids.PSS_CAPABILITIES, "error", pod_security.capabilities),
    Rule(ids.PSS_HOST_PORTS, "error", pod_security.host_ports),
    Rule(ids.PSS_VOLUME_TYPES, "error", pod_security.volume_types),
    Rule(ids.PSS_PRIVILEGE_ESCALATION, "error", pod_security.privilege_escalation),
    Rule(ids.PSS_RUN_AS_NON_ROOT, "error", pod_security.run_as_non_root),
    Rule(ids.PSS_SECCOMP, "error", pod_security.seccomp),
    Rule(ids.PSS_KERNEL_OPTIONS, "error", pod_security.kernel_options),
    Rule(ids.RESOURCES, "error", containers.resources),
    Rule(ids.PROBES, "error", containers.probes),
    Rule(ids.IMAGE_TAG, "error", containers.image_tag),
    Rule(ids.IMAGE_DIGEST, "warning", containers.image_digest),
    Rule(ids.PDB_MIN_REPLICAS, "error", capacity.pdb_min_replicas),
    Rule(ids.GPU_TOLERATION, "error", capacity.gpu_toleration),
    Rule(ids.GPU_QUOTA, "error", capacity.gpu_quota),
    Rule(ids.PROMETHEUS_SELECTOR, "warning", monitoring.selector_labels),
    Rule(ids.REFERENCES, "error", references.references_resolve),
)

if tuple(rule.id for rule in RULES) != ids.RULE_IDS:
    raise RuntimeError("RULES must implement exactly rule_ids.RULE_IDS, in that order")
