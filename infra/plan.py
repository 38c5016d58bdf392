"""What an environment would create and what it costs in GPUs, as a table people can read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from infra.config.deployment import DeploymentConfig


def object_rows(objects: Sequence[Mapping[str, object]]) -> list[tuple[str, str, str]]:
    """(kind, namespace, name) of every object; cluster-scoped objects show '-' as namespace."""
    rows = []
    for obj in objects:
        metadata = obj["metadata"]
        assert isinstance(metadata, Mapping)
        rows.append((str(obj["kind"]), str(metadata.get("namespace", "-")), str(metadata["name"])))
    return rows


def sizing(config: DeploymentConfig) -> dict[str, object]:
    """The figures that decide the bill: replicas, GPUs per pod and GPUs at the fewest and most replicas."""
    cloud = config.cloud
    fewest, most = cloud.replica_range if cloud.enabled else (0, 0)
    gpus = cloud.gpus_per_pod if cloud.enabled else 0
    return {
        "replicasMin": fewest,
        "replicasMax": most,
        "gpusPerPod": gpus,
        "gpusMin": fewest * gpus,
        "gpusMax": most * gpus,
        "tensorParallelSize": cloud.engine.tensor_parallel_size,
        "maxNumSeqs": cloud.engine.max_num_seqs,
        "concurrentRequestsMax": most * cloud.server.max_concurrent_requests,
    }


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain aligned text table, like `kubectl get`."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join("   ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells)


def format_plan(stack: str, config: DeploymentConfig, objects: Sequence[Mapping[str, object]]) -> str:
    """The `voxdeploy plan` report."""
    figures = sizing(config)
    lines = [
        f"Stack {stack} (environment {config.environment}, stage {config.stage}): {len(objects)} objects",
        "",
        table(("KIND", "NAMESPACE", "NAME"), object_rows(objects)),
        "",
        "Sizing",
        table(("FIGURE", "VALUE"), list(figures.items())),
    ]
    return "\n".join(lines) + "\n"
