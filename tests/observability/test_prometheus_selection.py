"""Would kube-prometheus-stack's Prometheus load our PrometheusRules and scrape our ServiceMonitors?

Held against the chart's own template logic and defaults (tests/fixtures/upstream/
kube-prometheus-stack-selectors.yaml, read from prometheus-community/helm-charts), not our idea of them:
`prometheus_selector` renders the selector the chart puts on the Prometheus object for a Helm release name,
`selects` applies it the way the operator does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
import yaml

from tests.support.stacks import REPO, STACKS, STACKS_DIR, mutated
from voxdeploy.infra.builders import build_objects
from voxdeploy.infra.config import DeploymentConfig, load_stack

CHART_FIXTURE = REPO / "tests" / "fixtures" / "upstream" / "kube-prometheus-stack-selectors.yaml"
RELEASE_NAME = "{{ $.Release.Name }}"
"""The placeholder the fixture's helmValuesSelector holds for the Helm release name."""
KIND_OF = {"PrometheusRule": "rule", "ServiceMonitor": "serviceMonitor"}
PROMETHEUS_NAMESPACE = "monitoring"
"""Where the chart is installed; not one of ours, so a selector for 'own namespace only' would miss us."""
HELM_RELEASE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
"""Helm's release name rule (a DNS-1123 subdomain, at most 53 characters)."""

Selector = dict[str, object] | None
"""A rendered LabelSelector; None when the template leaves the field out (null)."""


def chart() -> dict:
    return yaml.safe_load(CHART_FIXTURE.read_text())


def _go_true(value: object) -> bool:
    """Truth in Go templates: nil, false, 0, "" and empty maps and lists are false."""
    return value not in (None, False, 0, "") and value != {} and value != []


def _with_release(node: object, release: str) -> object:
    if isinstance(node, dict):
        return {key: _with_release(value, release) for key, value in node.items()}
    if isinstance(node, list):
        return [_with_release(value, release) for value in node]
    return release if node == RELEASE_NAME else node


def _render(logic: Mapping, spec: Mapping, release: str) -> Selector:
    value = spec.get(logic["valuesKey"])
    if _go_true(value):
        return value
    if "nilUsesHelmValuesKey" in logic and _go_true(spec.get(logic["nilUsesHelmValuesKey"])):
        return _with_release(logic["helmValuesSelector"], release)
    if logic["otherwise"] == "empty":
        return {}
    assert logic["otherwise"] == "emptyUnlessNull", logic["otherwise"]
    return None if value is None else {}


def _spec(fixture: Mapping, values: Mapping | None) -> dict:
    return {**fixture["defaults"], **(values or {})}


def prometheus_selector(fixture: Mapping, kind: str, release: str, values: Mapping | None = None) -> Selector:
    """The ruleSelector ('rule') or serviceMonitorSelector ('serviceMonitor') the chart renders for release,
    given prometheus.prometheusSpec values over the chart's defaults."""
    return _render(fixture["selectors"][kind], _spec(fixture, values), release)


def prometheus_namespace_selector(fixture: Mapping, kind: str, values: Mapping | None = None) -> Selector:
    """The ruleNamespaceSelector or serviceMonitorNamespaceSelector the chart renders."""
    return _render(fixture["namespaceSelectors"][kind], _spec(fixture, values), "")


def selects(selector: Selector, labels: Mapping[str, str]) -> bool:
    """A Kubernetes LabelSelector on an object's labels; null matches nothing, {} everything."""
    if selector is None:
        return False
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        held = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not held:
            return False
    return True


def namespace_selected(selector: Selector, namespace: str, prometheus_namespace: str = PROMETHEUS_NAMESPACE) -> bool:
    """A Prometheus namespace selector: null is the Prometheus' own namespace only, else the namespace's labels
    (the API server gives every namespace kubernetes.io/metadata.name; ours carry no label a selector needs)."""
    if selector is None:
        return namespace == prometheus_namespace
    return selects(selector, {"kubernetes.io/metadata.name": namespace})


def operator_objects(config: DeploymentConfig) -> list[dict]:
    return [obj for obj in build_objects(config) if obj["kind"] in KIND_OF]


def unselected(config: DeploymentConfig, release: str) -> list[str]:
    """'Kind/namespace/name' of every operator object the chart's default Prometheus for release ignores."""
    fixture = chart()
    missed = []
    for obj in operator_objects(config):
        kind, meta = KIND_OF[obj["kind"]], obj["metadata"]
        picked = selects(prometheus_selector(fixture, kind, release), meta.get("labels") or {})
        in_scope = namespace_selected(prometheus_namespace_selector(fixture, kind), meta["namespace"])
        if not (picked and in_scope):
            missed.append(f"{obj['kind']}/{meta['namespace']}/{meta['name']}")
    return missed


# The fixture's reading of the chart.


def test_fixture_names_its_upstream_source() -> None:
    source = chart()["source"]
    assert source["repository"] == "https://github.com/prometheus-community/helm-charts"
    assert re.fullmatch(r"[0-9a-f]{40}", source["commit"])
    assert source["chart"] == "kube-prometheus-stack" and source["license"] == "Apache-2.0"
    header = CHART_FIXTURE.read_text().split("\nsource:", 1)[0]
    for field in ("commit", "chartVersion", "template", "values"):
        assert str(source[field]) in header, field


@pytest.mark.parametrize("kind", ["rule", "serviceMonitor"])
def test_fixture_reading_agrees_with_the_quoted_template(kind: str) -> None:
    """The structured fields say what the verbatim template lines say."""
    fixture = chart()
    logic = fixture["selectors"][kind]
    excerpt = logic["excerpt"]
    assert f"  {logic['prometheusField']}:\n" in excerpt
    assert f".Values.prometheus.prometheusSpec.{logic['valuesKey']} }}}}" in excerpt
    assert f".Values.prometheus.prometheusSpec.{logic['nilUsesHelmValuesKey']}" in excerpt
    for key, value in logic["helmValuesSelector"]["matchLabels"].items():
        assert value == RELEASE_NAME
        assert f"    matchLabels:\n      {key}: {{{{ $.Release.Name | quote }}}}\n" in excerpt
    value = f".Values.prometheus.prometheusSpec.{logic['valuesKey']}"
    fallback = {
        "empty": "{{ else }}\n",
        "emptyUnlessNull": f'{{{{ else if not (kindIs "invalid" {value}) }}}}\n',
    }[logic["otherwise"]]
    assert f"{fallback}  {logic['prometheusField']}: {{}}\n" in excerpt
    namespaces = fixture["namespaceSelectors"][kind]
    assert f"{{{{ else }}}}\n  {namespaces['prometheusField']}: {{}}\n" in namespaces["excerpt"]
    for key in (logic["valuesKey"], logic["nilUsesHelmValuesKey"], namespaces["valuesKey"]):
        assert key in fixture["defaults"], key


@pytest.mark.parametrize("kind", ["rule", "serviceMonitor"])
def test_chart_defaults_select_by_release_label_in_every_namespace(kind: str) -> None:
    fixture = chart()
    assert fixture["defaults"][f"{kind}SelectorNilUsesHelmValues"] is True
    assert fixture["defaults"][f"{kind}Selector"] == {}
    assert prometheus_selector(fixture, kind, "my-release") == {"matchLabels": {"release": "my-release"}}
    namespaces = prometheus_namespace_selector(fixture, kind)
    assert namespaces == {}
    assert namespace_selected(namespaces, "voxcpm") and namespace_selected(namespaces, "anything-else")


@pytest.mark.parametrize(
    ("values", "rule", "service_monitor"),
    [
        ({}, {"matchLabels": {"release": "r"}}, {"matchLabels": {"release": "r"}}),
        # A selector of one's own wins over the release label.
        (
            {"ruleSelector": {"matchLabels": {"team": "tts"}}, "serviceMonitorSelector": {"matchLabels": {"a": "b"}}},
            {"matchLabels": {"team": "tts"}},
            {"matchLabels": {"a": "b"}},
        ),
        # NilUsesHelmValues off with the default {}: select every object.
        ({"ruleSelectorNilUsesHelmValues": False, "serviceMonitorSelectorNilUsesHelmValues": False}, {}, {}),
        # ... and with a null selector: ruleSelector is left out (selects no rules), serviceMonitorSelector is {}.
        (
            {
                "ruleSelectorNilUsesHelmValues": False,
                "ruleSelector": None,
                "serviceMonitorSelectorNilUsesHelmValues": False,
                "serviceMonitorSelector": None,
            },
            None,
            {},
        ),
    ],
)
def test_selector_follows_the_template_branches(values: dict, rule: Selector, service_monitor: Selector) -> None:
    fixture = chart()
    assert prometheus_selector(fixture, "rule", "r", values) == rule
    assert prometheus_selector(fixture, "serviceMonitor", "r", values) == service_monitor


def test_label_selector_semantics() -> None:
    labels = {"release": "kps", "app": "x"}
    assert selects({}, labels) and not selects(None, labels)
    assert selects({"matchLabels": {"release": "kps"}}, labels)
    assert not selects({"matchLabels": {"release": "other"}}, labels)
    assert selects({"matchExpressions": [{"key": "app", "operator": "In", "values": ["x", "y"]}]}, labels)
    assert not selects({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["x"]}]}, labels)
    assert selects({"matchExpressions": [{"key": "gone", "operator": "DoesNotExist"}]}, labels)
    assert not namespace_selected(None, "voxcpm") and namespace_selected(None, PROMETHEUS_NAMESPACE)


# Our stacks against it.


@pytest.mark.parametrize("name", STACKS)
def test_default_prometheus_loads_every_rule_and_service_monitor(name: str) -> None:
    config = load_stack(name).config
    if not operator_objects(config):
        pytest.skip(f"{name} renders no PrometheusRule or ServiceMonitor")
    labels = config.observability.selector_labels
    assert labels, f"{name}: observability.selectorLabels is empty, so no kube-prometheus-stack Prometheus loads it"
    release = labels.get("release")
    assert release, f"{name}: observability.selectorLabels has no `release`, the label the chart selects on"
    assert HELM_RELEASE.fullmatch(release) and len(release) <= 53, f"{name}: {release!r} is no Helm release name"
    assert unselected(config, release) == []


@pytest.mark.parametrize("name", STACKS)
def test_service_monitors_reach_their_services(name: str) -> None:
    """The operator honours a ServiceMonitor's namespaceSelector (ignoreNamespaceSelectors is false by default):
    every Service it selects lies in a namespace it names."""
    assert chart()["defaults"]["ignoreNamespaceSelectors"] is False
    objects = build_objects(load_stack(name).config)
    services = [obj for obj in objects if obj["kind"] == "Service"]
    monitors = [obj for obj in objects if obj["kind"] == "ServiceMonitor"]
    if not monitors:
        pytest.skip(f"{name} renders no ServiceMonitor")
    for monitor in monitors:
        spec = monitor["spec"]
        names = spec["namespaceSelector"].get("matchNames") or []
        targets = [svc for svc in services if selects(spec["selector"], svc["metadata"].get("labels") or {})]
        assert targets, f"{monitor['metadata']['name']} selects no Service"
        assert {svc["metadata"]["namespace"] for svc in targets} <= set(names), monitor["metadata"]["name"]


def test_empty_selector_labels_are_not_loaded(write_stack: Callable[[dict], Path]) -> None:
    path = write_stack(mutated("prod", "observability.selectorLabels", {}))
    config = load_stack(str(path), STACKS_DIR).config
    assert config.observability.selector_labels == {}
    objects = operator_objects(config)
    assert objects
    assert len(unselected(config, "kube-prometheus-stack")) == len(objects)


def test_another_release_name_does_not_load_ours() -> None:
    """`helm install monitoring prometheus-community/kube-prometheus-stack` selects release=monitoring."""
    config = load_stack("prod").config
    assert config.observability.selector_labels.get("release") != "monitoring"
    assert len(unselected(config, "monitoring")) == len(operator_objects(config))
