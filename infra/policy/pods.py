"""Where the pods are inside Kubernetes objects: every workload kind's pod spec, its containers, its labels.

Rules read pods through this module only, so a new workload kind (a Job, a StatefulSet) is one entry in
POD_SPEC_AT, not a change to every rule.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from voxdeploy.infra.config.deployment import DeploymentConfig
from voxdeploy.infra.policy.violations import Check, Finding, KubeObject, object_ref

POD_SPEC_AT: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "Rollout": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
"""Path of the pod spec in each kind that creates pods."""


def dig(obj: Any, path: Sequence[str], default: Any = None) -> Any:
    """obj[path[0]][path[1]]...; `default` where any step is missing."""
    node = obj
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return default
        node = node[key]
    return node


@dataclass(frozen=True)
class PodTemplate:
    """The pods one object creates: the object, their spec and the labels they carry."""

    owner: KubeObject
    spec: Mapping[str, Any]
    labels: Mapping[str, str]

    @property
    def ref(self) -> str:
        return object_ref(self.owner)

    @property
    def kind(self) -> str:
        return str(self.owner["kind"])

    @property
    def namespace(self) -> str | None:
        return dig(self.owner, ("metadata", "namespace"))


def pod_templates(objects: Sequence[KubeObject]) -> Iterator[PodTemplate]:
    """Every object that creates pods, with its pod spec (objects of other kinds are skipped)."""
    for obj in objects:
        if obj.get("kind") == "AnalysisTemplate":  # Argo Rollouts runs each `job` metric's Job
            for metric in dig(obj, ("spec", "metrics"), []):
                template = dig(metric, ("provider", "job", "spec", "template"))
                if template is not None:
                    yield PodTemplate(obj, template.get("spec", {}), dig(template, ("metadata", "labels"), {}))
            continue
        path = POD_SPEC_AT.get(str(obj.get("kind")))
        if path is None:
            continue
        yield PodTemplate(obj, dig(obj, path, {}), dig(obj, (*path[:-1], "metadata", "labels"), {}))


def containers(spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(label for messages, container) of every container and init container of a pod spec."""
    for field, label in (("initContainers", "init container"), ("containers", "container")):
        for container in spec.get(field, ()):
            yield f"{label} {container['name']}", container


def security_context(container: Mapping[str, Any]) -> Mapping[str, Any]:
    return container.get("securityContext") or {}


def effective(spec: Mapping[str, Any], container: Mapping[str, Any], key: str) -> Any:
    """A security setting as Kubernetes applies it: the container's own, else the pod's."""
    own = security_context(container)
    if key in own:
        return own[key]
    return dig(spec, ("securityContext", key))


def selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether a label selector (matchLabels and matchExpressions) matches a set of labels."""
    match_labels = selector.get("matchLabels") or {}
    if any(labels.get(key) != value for key, value in match_labels.items()):
        return False
    for expression in selector.get("matchExpressions") or ():
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or ()
        present = key in labels
        if not {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }[operator]:
            return False
    return True


PodCheck = Callable[[DeploymentConfig, PodTemplate], Iterator[str]]


def per_pod(check: PodCheck) -> Check:
    """A rule that judges each pod template on its own: its messages become findings on the template's owner."""

    @functools.wraps(check)
    def run(config: DeploymentConfig, objects: Sequence[KubeObject]) -> Iterator[Finding]:
        for pod in pod_templates(objects):
            for message in check(config, pod):
                yield Finding(pod.ref, message)

    return run
