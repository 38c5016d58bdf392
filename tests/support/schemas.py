"""Schemas the tests validate against: Kubernetes' (strictly), CRDs made strict, and the config models."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml
from jsonschema.protocols import Validator
from pydantic import BaseModel

from tests.support.stacks import REPO
from voxdeploy.infra.config.errors import _nested_models

KUBERNETES_VERSION = "1.30"
"""The Kubernetes API version objects are validated against (kubernetes-validate)."""

_CRDS = REPO / "tests" / "fixtures" / "crds"
_OPERATOR_CRDS = REPO / "tests" / "observability" / "crds"
CRD_SCHEMAS: Mapping[tuple[str, str], Path] = {
    ("external-secrets.io/v1", "ExternalSecret"): _CRDS / "external-secrets-externalsecret-v1.yaml",
    ("keda.sh/v1alpha1", "ScaledObject"): _CRDS / "keda-scaledobject-v1alpha1.yaml",
    ("apps.openyurt.io/v1beta1", "NodePool"): _CRDS / "openyurt-nodepool-v1beta1.yaml",
    ("monitoring.coreos.com/v1", "PrometheusRule"): _OPERATOR_CRDS / "prometheusrules.v1.schema.yaml",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): _OPERATOR_CRDS / "servicemonitors.v1.schema.yaml",
    ("argoproj.io/v1alpha1", "Application"): _CRDS / "argocd-application-v1alpha1.yaml",
    ("argoproj.io/v1alpha1", "Rollout"): _CRDS / "argo-rollouts-rollout-v1alpha1.yaml",
    ("argoproj.io/v1alpha1", "AnalysisTemplate"): _CRDS / "argo-rollouts-analysistemplate-v1alpha1.yaml",
    ("kustomize.toolkit.fluxcd.io/v1", "Kustomization"): _CRDS / "flux-kustomization-v1.yaml",
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): _CRDS / "gateway-api-httproute-v1.yaml",
    ("gateway.networking.k8s.io/v1beta1", "ReferenceGrant"): _CRDS / "gateway-api-referencegrant-v1beta1.yaml",
    ("cert-manager.io/v1", "Certificate"): _CRDS / "cert-manager-certificate-v1.yaml",
}
"""(apiVersion, kind) of every custom resource voxdeploy renders -> the openAPIV3Schema of that version, copied
from the upstream CRD of a named release (repository, commit and license in each file's header)."""


K8S_IO_CRD_GROUPS = frozenset({"gateway.networking.k8s.io"})
"""Groups under k8s.io that Kubernetes does not serve itself: CRDs of Kubernetes SIG projects (approved for the
name by the api-approved.kubernetes.io annotation), installed like any other CRD."""


def is_custom_resource(obj: Mapping[str, object]) -> bool:
    """A CRD kind (its group has a dot and is not Kubernetes' own *.k8s.io): kubernetes-validate has no schema."""
    group = str(obj["apiVersion"]).rpartition("/")[0]
    return "." in group and (not group.endswith(".k8s.io") or group in K8S_IO_CRD_GROUPS)


def strict(schema: object) -> object:
    """A CRD's openAPIV3Schema as jsonschema must read it to judge like `kubectl apply --validate=strict`.

    Unknown fields are errors wherever the API server would prune them (an object with properties, neither
    additionalProperties nor x-kubernetes-preserve-unknown-fields); Go RE2's `^(?i)` becomes `(?i)^`, since
    Python's re wants global flags first.
    """
    if isinstance(schema, dict):
        schema = {k: strict(v) for k, v in schema.items()}
        if (
            schema.get("type") == "object"
            and "properties" in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema.setdefault("additionalProperties", False)
        pattern = schema.get("pattern")
        if isinstance(pattern, str):
            schema["pattern"] = pattern.replace("^(?i)", "(?i)^")
    elif isinstance(schema, list):
        schema = [strict(v) for v in schema]
    return schema


@functools.cache
def crd_validator(api_version: str, kind: str) -> Validator:
    """The strict validator of a custom kind's CRD fixture, built once: Argo CD's schema alone is 350 kB."""
    path = CRD_SCHEMAS.get((api_version, kind))
    if path is None:
        raise LookupError(
            f"{api_version} {kind} has no CRD schema: add the upstream openAPIV3Schema of that version as a "
            "fixture (header naming repository, path, commit and license) and list it in CRD_SCHEMAS"
        )
    schema = strict(yaml.load(path.read_text(), Loader=yaml.CSafeLoader))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate_object(obj: Mapping[str, object]) -> None:
    """Validate a rendered object as a cluster would admit it: a built-in kind against Kubernetes' own schema
    (kubernetes-validate, strict), a custom kind against its CRD fixture (strict); raises on the first error."""
    if is_custom_resource(obj):
        crd_validator(str(obj["apiVersion"]), str(obj["kind"])).validate(obj)
    else:
        kubernetes_validate.validate(dict(obj), KUBERNETES_VERSION, strict=True)


def config_models(root: type[BaseModel]) -> set[type[BaseModel]]:
    """root and every pydantic model nested in its fields, at any depth."""
    seen: set[type[BaseModel]] = set()
    todo = [root]
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for field in model.model_fields.values():
            todo.extend(_nested_models(field.annotation))
    return seen
