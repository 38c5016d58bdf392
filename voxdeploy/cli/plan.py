"""`voxdeploy plan`: the objects a stack creates, its GPU sizing, capacity and policy report."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Mapping, Sequence

from voxdeploy.cli import capacity
from voxdeploy.cli.common import EXIT_OK, EXIT_USAGE, add_output_argument, add_stack_arguments, dump, load_stack_from


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    plan = sub.add_parser("plan", help="list the objects a stack creates and its GPU sizing")
    add_stack_arguments(plan)
    add_output_argument(plan)
    capacity.add_arguments(plan)
    plan.set_defaults(handler=run)
    return plan


def object_documents(objects: Sequence[Mapping[str, object]]) -> list[dict[str, object]]:
    """kind, namespace and name of each object; a cluster-scoped object's namespace is None (null)."""
    rows = []
    for obj in objects:
        metadata = obj["metadata"]
        assert isinstance(metadata, Mapping)
        rows.append({"kind": obj["kind"], "namespace": metadata.get("namespace"), "name": metadata["name"]})
    return rows


def run(args: argparse.Namespace) -> int:
    from voxdeploy.cli.policy import report
    from voxdeploy.infra.builders import build_objects
    from voxdeploy.infra.capacity.model import CapacityInputError
    from voxdeploy.infra.plan import edge_rows, format_plan, sizing
    from voxdeploy.infra.policy import evaluate

    stack = load_stack_from(args)
    objects = build_objects(stack.config)
    try:
        planned = capacity.report(args, stack.config, stack.config.capacity)
    except CapacityInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    text, errors = report(stack.config, objects)
    if args.output != "text":
        document = {
            "stack": stack.name,
            "objects": object_documents(objects),
            "sizing": sizing(stack.config),
            "edgePools": edge_rows(stack.config),
            "policy": [dataclasses.asdict(v) for v in evaluate(stack.config, objects)],
            "capacity": capacity.as_json(planned) if planned else None,
        }
        sys.stdout.write(dump(document, args.output))
    else:
        sys.stdout.write(format_plan(stack.name, stack.config, objects))
        if planned is not None:
            sys.stdout.write("\n" + capacity.as_text(planned))
        sys.stdout.write("\n" + text)
    return EXIT_USAGE if errors else EXIT_OK
