"""Every name one object gives another resolves: to an object the stack renders, or to one the stack declares
exists already. A pod whose ConfigMap, Secret or claim is missing never starts, and a Service, budget or monitor
whose selector matches nothing does nothing, all without an error anywhere until someone looks."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from voxdeploy.infra.config.access_checks import auth_secrets
from voxdeploy.infra.config.deployment import DeploymentConfig
from voxdeploy.infra.policy.pods import PodTemplate, containers, dig, pod_templates, selects
from voxdeploy.infra.policy.violations import Finding, KubeObject, object_ref

Names = dict[str, set[str]]
"""Kind -> the names of that kind that exist in the stack's namespace."""


def declared(config: DeploymentConfig) -> Names:
    """What the stack says exists without rendering it: the fields that name an existing object, the Secret
    `pulumi up` creates from a Pulumi secret, and the API-key Secrets (out of band, or `pulumi up`'s; an
    ExternalSecret's target is added by `existing`)."""
    names: Names = {"Secret": set(), "PersistentVolumeClaim": set()}
    token = config.cloud.pod.model_cache.hf_token_secret
    if token is not None and config.secrets.source in ("existing", "pulumi"):
        names["Secret"].add(token.name)
    names["Secret"] |= set(auth_secrets(config))
    if config.cloud.pod.model_cache.pvc.existing_claim is not None:
        names["PersistentVolumeClaim"].add(config.cloud.pod.model_cache.pvc.existing_claim)
    for pool in config.edge.pools if config.edge.enabled else ():
        if pool.weights.claim is not None:
            names["PersistentVolumeClaim"].add(pool.weights.claim)
    if config.voices.volume_claim is not None:
        names["PersistentVolumeClaim"].add(config.voices.volume_claim)
    if config.voices.store is not None:
        names["Secret"].add(config.voices.store.password_secret.name)
    batch = config.batch
    if batch.enabled and batch.volume_claim is not None:
        names["PersistentVolumeClaim"].add(batch.volume_claim)
    if batch.enabled and batch.api_key_secret is not None:
        names["Secret"].add(batch.api_key_secret.name)
    tls = config.route.tls
    if config.route.kind != "none" and tls is not None and (tls.cert_manager is None or config.route.kind == "ingress"):
        # existing, or issued by cert-manager's ingress-shim from the Ingress's annotation
        names["Secret"].add(tls.secret_name)
    return names


def existing(config: DeploymentConfig, objects: Sequence[KubeObject]) -> Names:
    """Rendered objects, the Secrets ExternalSecrets materialise, and what the stack declares."""
    names = declared(config)
    for obj in objects:
        names.setdefault(str(obj["kind"]), set()).add(str(dig(obj, ("metadata", "name"))))
        if obj["kind"] == "ExternalSecret":
            names["Secret"].add(str(dig(obj, ("spec", "target", "name"))))
        if obj["kind"] == "Certificate":
            names["Secret"].add(str(dig(obj, ("spec", "secretName"))))
    return names


def pod_references(spec: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(kind, name, where) of every object a pod spec names."""
    if spec.get("serviceAccountName"):
        yield "ServiceAccount", spec["serviceAccountName"], "serviceAccountName"
    for volume in spec.get("volumes") or ():
        for field, kind, key in (
            ("configMap", "ConfigMap", "name"),
            ("secret", "Secret", "secretName"),
            ("persistentVolumeClaim", "PersistentVolumeClaim", "claimName"),
        ):
            if field in volume:
                yield kind, volume[field][key], f"volume {volume['name']}"
    for secret in spec.get("imagePullSecrets") or ():
        yield "Secret", secret["name"], "imagePullSecrets"
    for label, container in containers(spec):
        for env in container.get("env") or ():
            for field, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
                ref = dig(env, ("valueFrom", field))
                if ref is not None:
                    yield kind, ref["name"], f"{label} env {env['name']}"
        for source in container.get("envFrom") or ():
            for field, kind in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
                if field in source:
                    yield kind, source[field]["name"], f"{label} envFrom"


def _port_names(pods: Sequence[PodTemplate]) -> set[str]:
    return {
        port["name"]
        for pod in pods
        for _, container in containers(pod.spec)
        for port in container.get("ports") or ()
        if "name" in port
    }


def _selected(selector: Mapping[str, Any], pods: Sequence[PodTemplate]) -> list[PodTemplate]:
    return [pod for pod in pods if selector and selects(selector, pod.labels)]


def _selector_findings(obj: KubeObject, pods: Sequence[PodTemplate], services: Sequence[KubeObject]) -> Iterator[str]:
    """What a Service, budget, policy, autoscaler or monitor points at, where it does not exist."""
    kind, spec = obj["kind"], obj.get("spec") or {}
    if kind == "Service":
        chosen = _selected({"matchLabels": spec.get("selector") or {}}, pods)
        if not chosen:
            yield f"selector {spec.get('selector')} matches no pod the stack renders"
        names = _port_names(chosen)
        for port in spec.get("ports") or ():
            target = port.get("targetPort")
            if isinstance(target, str) and chosen and target not in names:
                yield f"targetPort {target} is no container port of its pods (they name: {', '.join(sorted(names))})"
    elif kind in ("PodDisruptionBudget", "NetworkPolicy"):
        selector = spec.get("selector") if kind == "PodDisruptionBudget" else spec.get("podSelector")
        if not _selected(selector or {}, pods):
            yield f"selector {selector} matches no pod the stack renders"
    elif kind in ("HorizontalPodAutoscaler", "ScaledObject"):
        target = spec.get("scaleTargetRef") or {}
        owners = {(pod.kind, dig(pod.owner, ("metadata", "name"))) for pod in pods}
        if (target.get("kind", "Deployment"), target.get("name")) not in owners:
            yield f"scaleTargetRef {target.get('kind', 'Deployment')}/{target.get('name')} is not rendered"
    elif kind == "ServiceMonitor":
        fronts = [s for s in services if selects(spec.get("selector") or {}, dig(s, ("metadata", "labels"), {}))]
        if not fronts:
            yield f"selector {spec.get('selector')} matches no Service the stack renders"
        ports = {p.get("name") for s in fronts for p in dig(s, ("spec", "ports"), ())}
        for endpoint in spec.get("endpoints") or ():
            if fronts and endpoint.get("port") not in ports:
                yield f"endpoint port {endpoint.get('port')} is no port of the Services it selects"


def _route_findings(obj: KubeObject, names: Names, services: Sequence[KubeObject]) -> Iterator[str]:
    """A route to a Service or port that does not exist, or a TLS Secret nobody makes: every request fails."""
    kind, spec = obj["kind"], obj.get("spec") or {}
    ports = {dig(s, ("metadata", "name")): {p.get("port") for p in dig(s, ("spec", "ports"), ())} for s in services}
    backends: list[tuple[str, object]] = []
    secrets: list[str] = []
    if kind == "HTTPRoute":
        backends = [
            (ref.get("name"), ref.get("port"))
            for rule in spec.get("rules") or ()
            for ref in rule.get("backendRefs") or ()
            if ref.get("kind", "Service") == "Service"
        ]
    elif kind == "Ingress":
        backends = [
            (dig(path, ("backend", "service", "name")), dig(path, ("backend", "service", "port", "number")))
            for rule in spec.get("rules") or ()
            for path in dig(rule, ("http", "paths"), ())
        ]
        secrets = [tls["secretName"] for tls in spec.get("tls") or () if "secretName" in tls]
    elif kind == "ReferenceGrant":
        secrets = [ref["name"] for ref in spec.get("to") or () if ref.get("kind") == "Secret" and "name" in ref]
    for name, port in backends:
        if name not in ports:
            yield f"backend Service {name} is not rendered"
        elif port not in ports[name]:
            yield f"backend port {port} is no port of Service {name}"
    for name in secrets:
        if name not in names.get("Secret", set()):
            yield f"TLS Secret {name} is neither rendered, issued (route.tls.certManager) nor declared (route.tls)"


def references_resolve(config: DeploymentConfig, objects: Sequence[KubeObject]) -> Iterator[Finding]:
    """Names and selectors that point at nothing: render the object, or declare it in the stack's field for it."""
    names = existing(config, objects)
    pods = list(pod_templates(objects))
    for pod in pods:
        for kind, name, where in pod_references(pod.spec):
            if name not in names.get(kind, set()):
                yield Finding(
                    pod.ref,
                    f"{where} refers to {kind} {name}, which the stack neither renders nor declares; render it, or "
                    "name it in the stack field for an existing one (e.g. cloud.pod.modelCache.pvc.existingClaim, "
                    "cloud.pod.modelCache.hfTokenSecret, auth.keysSecret, edge.pools[].weights.claim, "
                    "voices.volumeClaim, voices.store.passwordSecret, batch.volumeClaim, batch.apiKeySecret)",
                )
    services = [obj for obj in objects if obj["kind"] == "Service"]
    for obj in objects:
        for message in (*_selector_findings(obj, pods, services), *_route_findings(obj, names, services)):
            yield Finding(object_ref(obj), message)
