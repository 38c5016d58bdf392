"""`voxdeploy render`: the stack's objects as YAML files plus kustomization.yaml (and GitOps delivery)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from voxdeploy.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    add_stack_arguments,
    load_stack_from,
    writable_directory,
)


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
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
    render.add_argument(
        "--repo-path", help="the directory's path in that repository [--out, relative to its Git work tree]"
    )
    render.add_argument("--revision", default="HEAD", help="branch, tag or commit Argo CD tracks [HEAD]")
    render.add_argument("--flux-source", default="flux-system", help="GitRepository name for --flux [flux-system]")
    render.set_defaults(handler=run)
    return render


def run(args: argparse.Namespace) -> int:
    from voxdeploy.infra.builders import build_objects
    from voxdeploy.infra.builders.crds import required_crds
    from voxdeploy.infra.render import (
        ARGOCD_FILE,
        FLUX_FILE,
        RenderRefused,
        RepositoryPathError,
        argocd_application,
        differences,
        flux_kustomization,
        render_files,
        repository_path,
        with_delivery,
        write_directory,
    )

    stack = load_stack_from(args)
    out = args.out or Path("rendered") / stack.name
    if not args.check:
        writable_directory(out, "--out")
    delivery: dict[str, dict[str, object]] = {}
    if args.argocd and not args.repo_url:
        print("error: --argocd needs --repo-url (the Git repository Argo CD reads)", file=sys.stderr)
        return EXIT_USAGE
    if args.argocd or args.flux:
        try:
            repo_path = repository_path(out, args.repo_path, Path.cwd())
        except RepositoryPathError as err:
            print(f"error: {err}", file=sys.stderr)
            return EXIT_USAGE
    if args.argocd:
        delivery[ARGOCD_FILE] = argocd_application(
            stack.name, stack.config.namespace, args.repo_url, repo_path, args.revision
        )
    if args.flux:
        delivery[FLUX_FILE] = flux_kustomization(stack.name, repo_path, args.flux_source)
    objects = build_objects(stack.config)
    files = with_delivery(render_files(objects, stack.name), stack.name, delivery)
    try:
        if args.check:
            drift = differences(files, out)
            for line in drift:
                print(line)
            print(f"{out}/ is {'out of date: render again and commit' if drift else 'up to date'}")
            return EXIT_FAILED if drift else EXIT_OK
        written = write_directory(files, out)
    except RenderRefused as err:
        raise UsageError(f"--out {out}: {err}") from None
    except OSError as err:  # a read-only file system, a name too long: one line, like the checks before
        raise UsageError(f"--out {out}: {err.filename}: {err.strerror}") from None
    print(f"wrote {len(written.written)} files to {out}/ (kubectl kustomize {out} | kubectl apply -f -)")
    if written.left:
        print(written.summary())
    crds = required_crds(objects)
    if crds:
        print(f"needs CRDs installed first: {', '.join(crds)} (check: kubectl get crd {' '.join(crds)})")
    return EXIT_OK
