"""Rules about each container: requests and limits, probes on what serves, and images that cannot change."""

from __future__ import annotations

from collections.abc import Iterator

from voxdeploy.infra.config.deployment import DeploymentConfig
from voxdeploy.infra.policy.pods import PodTemplate, containers, per_pod

SIZED = ("cpu", "memory")
REQUIRED_PROBES = ("livenessProbe", "readinessProbe")


@per_pod
def resources(_config: DeploymentConfig, pod: PodTemplate) -> Iterator[str]:
    """Requests are what the scheduler packs by; limits stop one pod starving its node. Init containers too:
    the pod's effective request is the larger of its init and app containers'."""
    for label, container in containers(pod.spec):
        sides = container.get("resources") or {}
        missing = [
            f"{side}.{name}" for side in ("requests", "limits") for name in SIZED if name not in (sides.get(side) or {})
        ]
        if missing:
            yield f"{label} has no resources {', '.join(missing)}; set cpu and memory under both requests and limits"


@per_pod
def probes(_config: DeploymentConfig, pod: PodTemplate) -> Iterator[str]:
    """A container with ports serves traffic: without readiness it gets requests before it can answer, without
    liveness a hung server is never restarted. A startup probe is optional (slow loads need one)."""
    for container in pod.spec.get("containers") or ():
        ports = [str(port.get("name") or port["containerPort"]) for port in container.get("ports") or ()]
        missing = [probe for probe in REQUIRED_PROBES if probe not in container]
        if ports and missing:
            yield (
                f"container {container['name']} serves port {', '.join(ports)} without {' or '.join(missing)}; "
                f"add {'them' if len(missing) > 1 else 'it'} (the voxdeploy runtime answers /health and /ready)"
            )


def image_parts(image: str) -> tuple[str | None, str | None]:
    """(tag, digest) of an image reference; a ':' before the last '/' is a registry port, not a tag."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.partition(":")[2] if ":" in last else None
    return tag, digest or None


def _images(pod: PodTemplate) -> dict[str, list[str]]:
    """Image reference -> the containers running it, so one image shared by several containers is one finding."""
    users: dict[str, list[str]] = {}
    for label, container in containers(pod.spec):
        users.setdefault(container["image"], []).append(label)
    return users


@per_pod
def image_tag(config: DeploymentConfig, pod: PodTemplate) -> Iterator[str]:
    """Outside dev, what runs must be what was reviewed: `latest` (or no tag, which means latest) moves."""
    if config.stage == "dev":
        return
    for image, users in _images(pod).items():
        tag, digest = image_parts(image)
        if digest is None and tag in (None, "latest"):
            floating = "has no tag (so it pulls latest)" if tag is None else "uses the mutable tag latest"
            yield (
                f"image {image} ({', '.join(users)}) {floating}; stage {config.stage} needs a version tag "
                "or a digest (set image.tag or image.digest in the stack)"
            )


@per_pod
def image_digest(config: DeploymentConfig, pod: PodTemplate) -> Iterator[str]:
    """In prod a tag is not enough: a registry lets a tag be pushed again; a digest names exactly one image."""
    if config.stage != "prod":
        return
    for image, users in _images(pod).items():
        if image_parts(image)[1] is None:
            yield (
                f"image {image} ({', '.join(users)}) is pinned by tag only; set image.digest (sha256:...) so "
                "prod runs exactly the image that was tested"
            )
