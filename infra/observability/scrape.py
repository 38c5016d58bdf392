"""How Prometheus finds the runtime's /metrics: a ServiceMonitor, or a plain scrape config.

Both give the samples the target labels `namespace`, `service` and `pod`, which every rule and panel
selects on (see promql.target_labels).
"""

from __future__ import annotations

from infra.builders import cloud, meta, workloads
from infra.config.deployment import DeploymentConfig
from infra.observability.rules import OPERATOR_API, monitoring_labels

METRICS_PATH = "/metrics"


def service_monitor(config: DeploymentConfig) -> dict[str, object]:
    """Scrape every pod behind the cloud tier's Service on its `http` port."""
    scrape = config.observability.scrape
    return {
        "apiVersion": OPERATOR_API,
        "kind": "ServiceMonitor",
        "metadata": meta.metadata(config, config.cloud.name, monitoring_labels(config)),
        "spec": {
            "selector": {"matchLabels": cloud.identity(config).selector},
            "namespaceSelector": {"matchNames": [config.namespace]},
            "endpoints": [
                {
                    "port": workloads.PORT_NAME,
                    "path": METRICS_PATH,
                    "scheme": "http",
                    "interval": scrape.interval,
                    "scrapeTimeout": scrape.timeout,
                }
            ],
        },
    }


def _copy(source: str, target: str) -> dict[str, object]:
    return {"source_labels": [source], "target_label": target}


def _keep(source: str, value: str) -> dict[str, object]:
    return {"source_labels": [source], "regex": value, "action": "keep"}


def scrape_config(config: DeploymentConfig) -> dict[str, object]:
    """One `scrape_configs` entry for a Prometheus without the operator, running in the cluster."""
    scrape = config.observability.scrape
    return {
        "job_name": f"voxdeploy/{config.namespace}/{config.cloud.name}",
        "scrape_interval": scrape.interval,
        "scrape_timeout": scrape.timeout,
        "metrics_path": METRICS_PATH,
        "scheme": "http",
        "kubernetes_sd_configs": [{"role": "endpointslice", "namespaces": {"names": [config.namespace]}}],
        "relabel_configs": [
            _keep("__meta_kubernetes_service_name", config.cloud.name),
            _keep("__meta_kubernetes_endpointslice_port_name", workloads.PORT_NAME),
            _copy("__meta_kubernetes_namespace", "namespace"),
            _copy("__meta_kubernetes_service_name", "service"),
            _copy("__meta_kubernetes_pod_name", "pod"),
        ],
    }
