"""Pod Security Standard "restricted", one rule per control, so a stack can waive one control on one object.

The namespace enforces "restricted" too (infra/builders/meta.py labels it), but the API server only says
no when the pods are created, long after `pulumi up` reported success; these rules say it at validate
time, with the container and the field to change. The controls and allowed values are Kubernetes' own
(kubernetes.io/docs/concepts/security/pod-security-standards, v1.30).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from voxdeploy.infra.config.deployment import DeploymentConfig
from voxdeploy.infra.policy.pods import PodTemplate, containers, dig, effective, per_pod, security_context

HOST_NAMESPACES = {"hostNetwork": "network", "hostPID": "process", "hostIPC": "IPC"}
ADDABLE_CAPABILITIES = {"NET_BIND_SERVICE"}
ALLOWED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
ALLOWED_SECCOMP = {"RuntimeDefault", "Localhost"}
ALLOWED_SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}


@per_pod
def host_namespaces(_config: DeploymentConfig, pod: PodTemplate) -> Iterator[str]:
    for field, what in HOST_NAMESPACES.items():
        if pod.spec.get(field):
            yield f"{field}: true shares the node's {what} namespace with the pod; remove it"


@per_pod
def privileged(_config: DeploymentConfig, pod: PodTemplate) -> Iterator[str]:
    if dig(pod.spec, ("securityContext", "windowsOptions", "hostProcess")):
        yield "the pod is a Windows HostProcess pod; remove securityContext.windowsOptions.hostProcess"
    for label, container in containers(pod.spec):
        context = security_context(container)
        if context.get("privileged"):
            yield f"{label} is privileged (root on the node); remove securityContext.privileged"
        if dig(context, ("windowsOptions", "hostProcess")):
            yield f"{label} is a Windows HostProcess container; remove securityContext.windowsOptions.hostProcess"


@per_pod
def capabilities(_config: DeploymentConfig, pod: PodTemplate) -> Iterator[str]:
    for label, container in containers(pod.spec):
        caps = security_context(container).get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or ()):
            yield f"{label} keeps the runtime's default capabilities; set securityContext.capabilities.drop: [ALL]"
        added = sorted(set(caps.get("add") or ()) - ADDABLE_CAPABILITIES)
        if added:
            yield (
                f"{label} adds capabilities {', '.join(added)}; restricted allows adding only NET_BIND_SERVICE: "
                "remove them from securityContext.capabilities.add"
            )


@per_pod
def host_ports(_config: DeploymentConfig, pod: PodTemplate) -> Iterator[str]:
    for label, container in containers(pod.spec):
        for port in container.get("ports") or ():
            if port.get("hostPort"):
                yield (
                    f"{label} binds hostPort {port['hostPort']} on the node; "
                    "remove it and reach the pod through its Service"
                )


@per_pod
def volume_types(_config: DeploymentConfig, pod: PodTemplate) -> Iterator[str]:
    for volume in pod.spec.get("volumes") or ():
        for source in sorted(set(volume) - {"name"} - ALLOWED_VOLUMES):
            yield (
                f"volume {volume['name']} is a {source} volume; restricted allows only "
                f"{', '.join(sorted(ALLOWED_VOLUMES))}: use a persistentVolumeClaim (or emptyDir for scratch)"
            )


@per_pod
def privilege_escalation(_config: DeploymentConfig, pod: PodTemplate) -> Iterator[str]:
    for label, container in containers(pod.spec):
        if security_context(container).get("allowPrivilegeEscalation") is not False:
            yield f"{label} may gain privileges (setuid binaries); set securityContext.allowPrivilegeEscalation: false"


@per_pod
def run_as_non_root(_config: DeploymentConfig, pod: PodTemplate) -> Iterator[str]:
    if dig(pod.spec, ("securityContext", "runAsUser")) == 0:
        yield "the pod's securityContext.runAsUser is 0 (root); use the image's non-root uid"
    for label, container in containers(pod.spec):
        if effective(pod.spec, container, "runAsNonRoot") is not True:
            yield f"{label} may run as root; set securityContext.runAsNonRoot: true (on the pod or the container)"
        if security_context(container).get("runAsUser") == 0:
            yield f"{label} sets securityContext.runAsUser: 0 (root); use the image's non-root uid"


@per_pod
def seccomp(_config: DeploymentConfig, pod: PodTemplate) -> Iterator[str]:
    if dig(pod.spec, ("securityContext", "seccompProfile", "type")) == "Unconfined":
        yield "the pod's seccompProfile is Unconfined; use type: RuntimeDefault"
    for label, container in containers(pod.spec):
        profile = effective(pod.spec, container, "seccompProfile") or {}
        if profile.get("type") not in ALLOWED_SECCOMP:
            yield (
                f"{label} runs without a seccomp profile; set securityContext.seccompProfile.type: RuntimeDefault "
                "(on the pod or the container)"
            )


def _kernel_options(where: str, context: Mapping[str, Any]) -> Iterator[str]:
    selinux = context.get("seLinuxOptions") or {}
    if selinux.get("type", "") not in ALLOWED_SELINUX_TYPES:
        yield f"{where} sets SELinux type {selinux['type']}; use a container_* type or leave it unset"
    for field in ("user", "role"):
        if selinux.get(field):
            yield f"{where} sets seLinuxOptions.{field}; leave SELinux user and role to the runtime"
    if dig(context, ("appArmorProfile", "type")) == "Unconfined":
        yield f"{where} disables AppArmor; use appArmorProfile.type: RuntimeDefault or leave it unset"
    if context.get("procMount", "Default") != "Default":
        yield f"{where} unmasks /proc (procMount: {context['procMount']}); remove procMount"


@per_pod
def kernel_options(_config: DeploymentConfig, pod: PodTemplate) -> Iterator[str]:
    """SELinux, AppArmor, /proc masking and sysctls: the kernel's confinement a pod must not loosen."""
    pod_context = pod.spec.get("securityContext") or {}
    yield from _kernel_options("the pod", pod_context)
    for sysctl in pod_context.get("sysctls") or ():
        if sysctl["name"] not in SAFE_SYSCTLS:
            yield f"sysctl {sysctl['name']} is not namespaced-safe; remove it from securityContext.sysctls"
    for label, container in containers(pod.spec):
        yield from _kernel_options(label, security_context(container))
