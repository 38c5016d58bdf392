"""Every policy rule, in report order: id, default severity and check (a stack re-grades with policy.severities).

Errors are what would fail in the cluster or break an SLO (pods refused by Pod Security, Pending GPU pods,
hung drains, scale-ups refused by the quota, unsized or unprobed pods, moving images); a warning is a
hardening the stack should adopt (a digest in prod).
"""

from __future__ import annotations

from voxdeploy.infra.policy import capacity, containers, pod_security
from voxdeploy.infra.policy.violations import Rule

RULES: tuple[Rule, ...] = (
    Rule("pss-host-namespaces", "error", pod_security.host_namespaces),
    Rule("pss-privileged", "error", pod_security.privileged),
    Rule("pss-capabilities", "error", pod_security.capabilities),
    Rule("pss-host-ports", "error", pod_security.host_ports),
    Rule("pss-volume-types", "error", pod_security.volume_types),
    Rule("pss-privilege-escalation", "error", pod_security.privilege_escalation),
    Rule("pss-run-as-non-root", "error", pod_security.run_as_non_root),
    Rule("pss-seccomp", "error", pod_security.seccomp),
    Rule("pss-kernel-options", "error", pod_security.kernel_options),
    Rule("resources", "error", containers.resources),
    Rule("probes", "error", containers.probes),
    Rule("image-tag", "error", containers.image_tag),
    Rule("image-digest", "warning", containers.image_digest),
    Rule("pdb-min-replicas", "error", capacity.pdb_min_replicas),
    Rule("gpu-toleration", "error", capacity.gpu_toleration),
    Rule("gpu-quota", "error", capacity.gpu_quota),
)
