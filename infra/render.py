"""Kubernetes objects -> a kustomize directory for GitOps: one file per object, byte-for-byte stable."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

import yaml

KUSTOMIZATION = "kustomization.yaml"
ARGOCD_FILE = "argocd-application.yaml"
FLUX_FILE = "flux-kustomization.yaml"
DELIVERY_FILES = (ARGOCD_FILE, FLUX_FILE)
"""Written beside the objects but not listed in the kustomization: they point a controller at the directory."""
HEADER = "# Rendered by voxdeploy from stack {stack}. Do not edit: change the stack and render again.\n"


class _Dumper(yaml.SafeDumper):
    """Block style, no anchors: GitOps diffs must read like hand-written manifests."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def to_yaml(document: object) -> str:
    """One YAML document with keys in builder order (apiVersion, kind, metadata, spec...)."""
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120, allow_unicode=True)


def file_name(obj: Mapping[str, object]) -> str:
    """`deployment-voxcpm.yaml`; kind + name is unique within one rendered stack."""
    metadata = obj["metadata"]
    assert isinstance(metadata, Mapping)
    return f"{str(obj['kind']).lower()}-{metadata['name']}.yaml"


def render_files(objects: Sequence[Mapping[str, object]], stack: str) -> dict[str, str]:
    """File name -> content for every object plus the kustomization listing them in creation order."""
    header = HEADER.format(stack=stack)
    files: dict[str, str] = {}
    for obj in objects:
        name = file_name(obj)
        if name in files:
            raise ValueError(f"two objects render to {name}; kind and name must be unique in a stack")
        files[name] = header + to_yaml(dict(obj))
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": list(files),
    }
    files[KUSTOMIZATION] = header + to_yaml(kustomization)
    return files


def argocd_application(
    stack: str, destination_namespace: str, repo_url: str, path: str, revision: str
) -> dict[str, object]:
    """An Argo CD Application syncing the rendered directory, pruning what the stack no longer has."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": f"voxdeploy-{stack}", "namespace": "argocd"},
        "spec": {
            "project": "default",
            "source": {"repoURL": repo_url, "path": path, "targetRevision": revision},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": destination_namespace},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}, "syncOptions": ["ServerSideApply=true"]},
        },
    }


class RepositoryPathError(ValueError):
    """The rendered directory's path inside the Git repository cannot be known or is not a repository path."""


def repository_path(out: Path, repo_path: str | None, cwd: Path) -> str:
    """The directory's path as a GitOps controller sees it: relative to the repository root, with `/`.

    `--repo-path` wins and must be relative and stay inside the repository; otherwise `out` is resolved
    against the Git work tree that holds it (the nearest folder above with a `.git`), which turns an
    absolute `--out` into `rendered/prod` instead of `.//abs/path`.
    """
    if repo_path is not None:
        candidate = PurePosixPath(repo_path)
        if candidate.is_absolute() or ".." in candidate.parts:
            raise RepositoryPathError(
                f"--repo-path {repo_path!r} must be relative to the repository root and stay inside it"
            )
        return candidate.as_posix().removeprefix("./") or "."
    target = (cwd / out).resolve()
    for root in (target, *target.parents):
        if (root / ".git").exists():
            return target.relative_to(root).as_posix() or "."
    raise RepositoryPathError(
        f"--out {out} is not inside a Git work tree: say where it lives in the repository with --repo-path"
    )


def flux_kustomization(stack: str, path: str, source: str) -> dict[str, object]:
    """A Flux Kustomization applying the rendered directory from a GitRepository source."""
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": f"voxdeploy-{stack}", "namespace": "flux-system"},
        "spec": {
            "interval": "5m",
            "path": f"./{path}",
            "prune": True,
            "wait": True,
            "timeout": "30m",
            "sourceRef": {"kind": "GitRepository", "name": source},
        },
    }


def with_delivery(
    files: Mapping[str, str], stack: str, documents: Mapping[str, Mapping[str, object]]
) -> dict[str, str]:
    """The rendered files plus delivery manifests (file name -> document)."""
    header = HEADER.format(stack=stack)
    return {**files, **{name: header + to_yaml(dict(document)) for name, document in documents.items()}}


def differences(files: Mapping[str, str], out: Path) -> list[str]:
    """What `write_directory` would change in `out`: one line per missing, changed or stale file."""
    found = []
    for name, content in files.items():
        path = out / name
        if not path.is_file():
            found.append(f"missing: {name}")
        elif path.read_text(encoding="utf-8") != content:
            found.append(f"changed: {name}")
    for stale in sorted(_managed(out) - set(files)):
        if (out / stale).exists():
            found.append(f"stale: {stale}")
    return found


def _managed(out: Path) -> set[str]:
    """Files an earlier render wrote: those its kustomization lists, and the delivery manifests."""
    return set(_previous_resources(out)) | set(DELIVERY_FILES)


def _previous_resources(out: Path) -> list[str]:
    try:
        previous = yaml.safe_load((out / KUSTOMIZATION).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return []
    resources = previous.get("resources", []) if isinstance(previous, dict) else []
    return [r for r in resources if isinstance(r, str) and "/" not in r]


def write_directory(files: Mapping[str, str], out: Path) -> list[Path]:
    """Write the files; remove those an earlier render listed that this one no longer produces."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in _managed(out) - set(files):
        (out / stale).unlink(missing_ok=True)
    written = []
    for name, content in files.items():
        path = out / name
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written
