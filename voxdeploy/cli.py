"""`voxdeploy`: one console script; each subcommand imports only the part of the project it needs.

Exit codes follow the tools our users already script around: 0 success, 1 the command ran and found
a difference or failure, 2 bad usage or an invalid stack (the message names the key and the file).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from voxdeploy.cli_common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, add_stack_arguments, load_stack_from

__all__ = ["EXIT_OK", "EXIT_USAGE", "build_parser", "main"]


def cmd_validate(args: argparse.Namespace) -> int:
    from voxdeploy.infra.builders import build_objects
    from voxdeploy.policy_cmds import report

    stack = load_stack_from(args)
    objects = build_objects(stack.config)
    text, errors = report(stack.config, objects)
    verdict = f"fails policy with {errors} unwaived error{'s' if errors != 1 else ''}" if errors else "valid"
    print(f"{stack.path}: {verdict} ({len(objects)} objects, environment {stack.config.environment})")
    sys.stdout.write(text)
    return EXIT_USAGE if errors else EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    from voxdeploy import capacity_cmds
    from voxdeploy.infra.builders import build_objects
    from voxdeploy.infra.plan import edge_rows, format_plan, object_rows, sizing
    from voxdeploy.infra.policy import evaluate
    from voxdeploy.policy_cmds import report

    stack = load_stack_from(args)
    objects = build_objects(stack.config)
    try:
        capacity = capacity_cmds.report(args, stack.config, stack.config.capacity)
    except capacity_cmds.CapacityInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    text, errors = report(stack.config, objects)
    if args.output == "json":
        rows = [{"kind": k, "namespace": n, "name": m} for k, n, m in object_rows(objects)]
        document = {
            "stack": stack.name,
            "objects": rows,
            "sizing": sizing(stack.config),
            "edgePools": edge_rows(stack.config),
            "policy": [dataclasses.asdict(v) for v in evaluate(stack.config, objects)],
            "capacity": capacity_cmds.as_json(capacity) if capacity else None,
        }
        print(json.dumps(document, indent=2))
    else:
        sys.stdout.write(format_plan(stack.name, stack.config, objects))
        if capacity is not None:
            sys.stdout.write("\n" + capacity_cmds.as_text(capacity))
        sys.stdout.write("\n" + text)
    return EXIT_USAGE if errors else EXIT_OK


def cmd_render(args: argparse.Namespace) -> int:
    from voxdeploy.infra.builders import build_objects
    from voxdeploy.infra.render import (
        ARGOCD_FILE,
        FLUX_FILE,
        argocd_application,
        differences,
        flux_kustomization,
        render_files,
        with_delivery,
        write_directory,
    )

    stack = load_stack_from(args)
    out = args.out or Path("rendered") / stack.name
    repo_path = args.repo_path or out.as_posix()
    delivery: dict[str, dict[str, object]] = {}
    if args.argocd:
        if not args.repo_url:
            print("error: --argocd needs --repo-url (the Git repository Argo CD reads)", file=sys.stderr)
            return EXIT_USAGE
        delivery[ARGOCD_FILE] = argocd_application(
            stack.name, stack.config.namespace, args.repo_url, repo_path, args.revision
        )
    if args.flux:
        delivery[FLUX_FILE] = flux_kustomization(stack.name, repo_path, args.flux_source)
    files = with_delivery(render_files(build_objects(stack.config), stack.name), stack.name, delivery)
    if args.check:
        drift = differences(files, out)
        for line in drift:
            print(line)
        print(f"{out}/ is {'out of date: render again and commit' if drift else 'up to date'}")
        return EXIT_FAILED if drift else EXIT_OK
    written = write_directory(files, out)
    print(f"wrote {len(written)} files to {out}/ (kubectl kustomize {out} | kubectl apply -f -)")
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    from voxdeploy.infra.config import DeploymentConfig

    print(json.dumps(DeploymentConfig.model_json_schema(by_alias=True), indent=2, sort_keys=True))
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    if args.router:
        from voxdeploy.router_cmds import router_settings_from
        from voxdeploy.runtime.router.app import serve_router

        base = None
        if args.stack is not None:
            from voxdeploy.infra.builders.hybrid import router_settings

            base = router_settings(load_stack_from(args).config)
        serve_router(router_settings_from(args, base))
        return EXIT_OK
    if args.tier:
        from voxdeploy.infra.config.errors import ConfigError, ConfigIssue

        raise ConfigError("voxdeploy serve", [ConfigIssue("--tier", args.tier, "only with --router")])
    from voxdeploy.runtime.app import serve
    from voxdeploy.serve_options import runtime_config

    serve(runtime_config(args), sim_load_seconds=args.sim_load_seconds)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voxdeploy",
        description="VoxCPM2 text-to-speech on Kubernetes: typed stacks -> objects, Pulumi, GitOps YAML.",
    )
    from voxdeploy.contracts.version import VERSION

    parser.add_argument("--version", action="version", version=f"%(prog)s {VERSION}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = sub.add_parser("validate", help="check a stack file; exit 2 naming every bad key")
    add_stack_arguments(validate)
    validate.set_defaults(handler=cmd_validate)

    plan = sub.add_parser("plan", help="list the objects a stack creates and its GPU sizing")
    add_stack_arguments(plan)
    plan.add_argument("--output", "-o", choices=("table", "json"), default="table", help="output format [table]")
    from voxdeploy import capacity_cmds

    capacity_cmds.add_arguments(plan)
    plan.set_defaults(handler=cmd_plan)

    render = sub.add_parser("render", help="write the stack's objects as YAML files plus kustomization.yaml")
    add_stack_arguments(render)
    render.add_argument("--out", type=Path, default=None, help="output directory [rendered/<stack>]")
    render.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if the directory differs from what would be rendered (CI drift check)",
    )
    render.add_argument("--argocd", action="store_true", help="also write an Argo CD Application for the directory")
    render.add_argument("--flux", action="store_true", help="also write a Flux Kustomization for the directory")
    render.add_argument("--repo-url", help="Git repository URL the GitOps controller reads (--argocd)")
    render.add_argument("--repo-path", help="the directory's path in that repository [--out]")
    render.add_argument("--revision", default="HEAD", help="branch, tag or commit Argo CD tracks [HEAD]")
    render.add_argument("--flux-source", default="flux-system", help="GitRepository name for --flux [flux-system]")
    render.set_defaults(handler=cmd_render)

    serve = sub.add_parser("serve", help="run the speech API (OpenAI-compatible) over an engine")
    from voxdeploy.serve_options import add_arguments

    add_arguments(serve)
    from voxdeploy.router_cmds import add_router_arguments

    add_router_arguments(serve)
    serve.set_defaults(handler=cmd_serve)

    from voxdeploy import loadtest_cmds

    loadtest_cmds.register(sub)

    from voxdeploy import observability_cmds

    observability_cmds.register(sub)

    schema = sub.add_parser("schema", help="print the JSON schema of stack config (for editors)")
    schema.set_defaults(handler=cmd_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    from voxdeploy.infra.config.errors import ConfigError

    try:
        return handler(args)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `voxdeploy plan | head`: the reader left; say nothing more, like kubectl
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
