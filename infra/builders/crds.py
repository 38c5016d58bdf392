"""The CustomResourceDefinitions a set of objects needs installed first, by their cluster names.

A custom resource sent to a cluster without its CRD fails halfway through an apply ("no matches for kind
ScaledObject"); naming the CRDs lets the Pulumi program read them up front and `render` print them.
"""

from __future__ import annotations

from collections.abc import Iterable

from voxdeploy.infra.builders.workloads import KubeObject

CRD_PLURALS: dict[tuple[str, str], str] = {
    ("keda.sh", "ScaledObject"): "scaledobjects",
    ("external-secrets.io", "ExternalSecret"): "externalsecrets",
    ("monitoring.coreos.com", "PrometheusRule"): "prometheusrules",
    ("monitoring.coreos.com", "ServiceMonitor"): "servicemonitors",
    ("apps.openyurt.io", "NodePool"): "nodepools",
    ("argoproj.io", "Application"): "applications",
    ("argoproj.io", "Rollout"): "rollouts",
    ("argoproj.io", "AnalysisTemplate"): "analysistemplates",
    ("kustomize.toolkit.fluxcd.io", "Kustomization"): "kustomizations",
    ("gateway.networking.k8s.io", "HTTPRoute"): "httproutes",
    ("gateway.networking.k8s.io", "ReferenceGrant"): "referencegrants",
    ("cert-manager.io", "Certificate"): "certificates",
}
"""(API group, kind) -> the CRD's plural, for every custom kind the builders emit; each operator names its CRD
`<plural>.<group>` (tests hold these to the upstream CRD files the schema fixtures come from)."""

BUILT_IN_GROUPS = frozenset({"", "apps", "batch", "autoscaling", "policy", "networking.k8s.io"})
"""API groups served by Kubernetes itself among those the builders emit."""


def crd_name(api_version: str, kind: str) -> str | None:
    """`<plural>.<group>` of a custom kind; None for a built-in one. An unknown custom kind is an error here,
    so a kind added to a builder cannot reach a cluster without its CRD being named."""
    group = api_version.rpartition("/")[0]
    if group in BUILT_IN_GROUPS:
        return None
    plural = CRD_PLURALS.get((group, kind))
    if plural is None:
        raise KeyError(f"no CRD known for {kind} ({api_version}): add its plural to CRD_PLURALS")
    return f"{plural}.{group}"


def required_crds(objects: Iterable[KubeObject]) -> list[str]:
    """Every CRD the objects need, each once, sorted."""
    names = {crd_name(str(obj["apiVersion"]), str(obj["kind"])) for obj in objects}
    return sorted(name for name in names if name is not None)
