"""How Prometheus finds /metrics of the runtimes and the router: ServiceMonitors, or a plain scrape config.

Both give the samples the target labels `namespace`, `service` and `pod`, which every rule and panel
selects on (see promql.selector and scope.RuntimeScope). One ServiceMonitor per watched component: the
cloud Service, every edge pool's Service at once (watch.edge_watch says why), the router's Service.
"""

from __future__ import annotations

from voxdeploy.contracts.api import METRICS_PATH
from voxdeploy.infra.builders import workloads
from voxdeploy.infra.builders.meta import metadata
from voxdeploy.infra.config.canary import HASH_TARGET_LABEL, POD_HASH_LABEL
from voxdeploy.infra.config.deployment import DeploymentConfig
from voxdeploy.infra.observability.rules import OPERATOR_API, monitoring_labels
from voxdeploy.infra.observability.watch import Watch, watches


def service_monitor(config: DeploymentConfig, watch: Watch) -> dict[str, object]:
    """Scrape every pod behind the watched Services on their `metrics` port (the only one serving /metrics)."""
    scrape = config.observability.scrape
    # the canary analysis tells the versions apart by their pods' hash label, which must reach the series
    canary = {"podTargetLabels": [POD_HASH_LABEL]} if config.cloud.canary else {}
    return {
        "apiVersion": OPERATOR_API,
        "kind": "ServiceMonitor",
        "metadata": metadata(config, watch.name, monitoring_labels(config, watch.name)),
        "spec": {
            **canary,
            "selector": watch.selector,
            "namespaceSelector": {"matchNames": [watch.namespace]},
            "endpoints": [
                {
                    "port": workloads.METRICS_PORT_NAME,
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


def scrape_job(config: DeploymentConfig, watch: Watch) -> dict[str, object]:
    """One `scrape_configs` entry for a Prometheus without the operator, running in the cluster."""
    scrape = config.observability.scrape
    return {
        "job_name": f"voxdeploy/{watch.namespace}/{watch.name}",
        "scrape_interval": scrape.interval,
        "scrape_timeout": scrape.timeout,
        "metrics_path": METRICS_PATH,
        "scheme": "http",
        "kubernetes_sd_configs": [{"role": "endpointslice", "namespaces": {"names": [watch.namespace]}}],
        "relabel_configs": [
            _keep("__meta_kubernetes_service_name", "|".join(watch.services)),
            _keep("__meta_kubernetes_endpointslice_port_name", workloads.METRICS_PORT_NAME),
            _copy("__meta_kubernetes_namespace", "namespace"),
            _copy("__meta_kubernetes_service_name", "service"),
            _copy("__meta_kubernetes_pod_name", "pod"),
            *(
                [_copy(f"__meta_kubernetes_pod_label_{HASH_TARGET_LABEL}", HASH_TARGET_LABEL)]
                if config.cloud.canary
                else []
            ),
        ],
    }


def scrape_configs(config: DeploymentConfig) -> list[dict[str, object]]:
    """Every watched component's job, the plain counterpart of the ServiceMonitors."""
    return [scrape_job(config, watch) for watch in watches(config)]
