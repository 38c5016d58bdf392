"""`voxdeploy validate`: check a stack file and its policy; exit 2 naming every bad key or unwaived error."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from voxdeploy.cli.common import EXIT_OK, EXIT_USAGE, add_output_argument, add_stack_arguments, dump, load_stack_from


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    validate = sub.add_parser("validate", help="check a stack file; exit 2 naming every bad key")
    add_stack_arguments(validate)
    add_output_argument(validate)
    validate.set_defaults(handler=run)
    return validate


def run(args: argparse.Namespace) -> int:
    from voxdeploy.cli.policy import report
    from voxdeploy.infra.builders import build_objects
    from voxdeploy.infra.policy import evaluate

    stack = load_stack_from(args)
    objects = build_objects(stack.config)
    text, errors = report(stack.config, objects)
    if args.output != "text":
        document = {
            "stack": stack.name,
            "path": str(stack.path),
            "environment": stack.config.environment,
            "valid": not errors,
            "objects": len(objects),
            "policyErrors": errors,
            "policy": [dataclasses.asdict(v) for v in evaluate(stack.config, objects)],
        }
        sys.stdout.write(dump(document, args.output))
        return EXIT_USAGE if errors else EXIT_OK
    verdict = f"fails policy with {errors} unwaived error{'s' if errors != 1 else ''}" if errors else "valid"
    print(f"{stack.path}: {verdict} ({len(objects)} objects, environment {stack.config.environment})")
    sys.stdout.write(text)
    return EXIT_USAGE if errors else EXIT_OK
