"""The one list of policy rule ids: light on purpose, so the stack config can check waivers and severity
overrides against it without importing the rules (infra/policy/rules.py builds its registry from these).
"""

from __future__ import annotations

PSS_HOST_NAMESPACES = "pss-host-namespaces"
PSS_PRIVILEGED = "pss-privileged"
PSS_CAPABILITIES = "pss-capabilities"
PSS_HOST_PORTS = "pss-host-ports"
PSS_VOLUME_TYPES = "pss-volume-types"
PSS_PRIVILEGE_ESCALATION = "pss-privilege-escalation"
PSS_RUN_AS_NON_ROOT = "pss-run-as-non-root"
PSS_SECCOMP = "pss-seccomp"
PSS_KERNEL_OPTIONS = "pss-kernel-options"
RESOURCES = "resources"
PROBES = "probes"
IMAGE_TAG = "image-tag"
IMAGE_DIGEST = "image-digest"
PDB_MIN_REPLICAS = "pdb-min-replicas"
GPU_TOLERATION = "gpu-toleration"
GPU_QUOTA = "gpu-quota"
PROMETHEUS_SELECTOR = "prometheus-selector"
REFERENCES = "references"

RULE_IDS: tuple[str, ...] = (
    PSS_HOST_NAMESPACES,
    PSS_PRIVILEGED,
    PSS_CAPABILITIES,
    PSS_HOST_PORTS,
    PSS_VOLUME_TYPES,
    PSS_PRIVILEGE_ESCALATION,
    PSS_RUN_AS_NON_ROOT,
    PSS_SECCOMP,
    PSS_KERNEL_OPTIONS,
    RESOURCES,
    PROBES,
    IMAGE_TAG,
    IMAGE_DIGEST,
    PDB_MIN_REPLICAS,
    GPU_TOLERATION,
    GPU_QUOTA,
    PROMETHEUS_SELECTOR,
    REFERENCES,
)
"""Every rule a stack can waive or re-grade, in report order; infra/policy/rules.py implements exactly these
(it raises at import otherwise)."""


def known_rule(rule: str) -> str:
    """`rule` if it is a rule id, else an error naming every valid one."""
    if rule not in RULE_IDS:
        raise ValueError(f"unknown policy rule {rule!r}; valid rule ids: {', '.join(RULE_IDS)}")
    return rule
