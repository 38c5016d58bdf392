"""What an environment would create and what it costs in GPUs, as a table people can read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from voxdeploy.infra.config.deployment import DeploymentConfig


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
    if not cloud.enabled:
        return {}
    fewest, most = cloud.replica_range
    gpus = cloud.gpus_per_pod
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


def edge_rows(config: DeploymentConfig) -> list[dict[str, object]]:
    """Per edge pool: device, quantization, backend, memory needed vs the device's, expected RTF."""
    edge = config.edge
    if not edge.enabled:
        return []
    catalogue = edge.catalogue()
    rows = []
    for pool in edge.pools:
        device = catalogue[pool.device]
        rows.append(
            {
                "pool": pool.name,
                "device": pool.device,
                "quantization": pool.quantization,
                "backend": pool.backend,
                "memoryNeededGib": round(pool.memory_needed_gib(), 1),
                "deviceMemoryGib": device.memory_gib,
                "expectedRtf": device.expected_rtf.get(pool.quantization),
                "placement": "one per node" if pool.one_per_node else f"{pool.replicas} replicas",
            }
        )
    return rows


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain aligned text table, like `kubectl get`."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join("   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells)


def format_plan(stack: str, config: DeploymentConfig, objects: Sequence[Mapping[str, object]]) -> str:
    """The `voxdeploy plan` report."""
    figures = sizing(config)
    lines = [
        f"Stack {stack} (environment {config.environment}, stage {config.stage}): {len(objects)} objects",
        "",
        table(("KIND", "NAMESPACE", "NAME"), object_rows(objects)),
    ]
    if figures:
        lines += ["", "Sizing", table(("FIGURE", "VALUE"), list(figures.items()))]
    pools = edge_rows(config)
    if pools:
        headers = ("POOL", "DEVICE", "QUANT", "BACKEND", "MEMORY GIB (NEED/HAVE)", "EXPECTED RTF", "PLACEMENT")
        lines += [
            "",
            "Edge pools",
            table(
                headers,
                [
                    (
                        p["pool"],
                        p["device"],
                        p["quantization"],
                        p["backend"],
                        f"{p['memoryNeededGib']}/{p['deviceMemoryGib']:g}",
                        "-" if p["expectedRtf"] is None else p["expectedRtf"],
                        p["placement"],
                    )
                    for p in pools
                ],
            ),
        ]
    return "\n".join(lines) + "\n"
