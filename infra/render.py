"""Kubernetes objects -> a kustomize directory for GitOps: one file per object, byte-for-byte stable."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

from voxdeploy.infra.config.safe_yaml import load_yaml

KUSTOMIZATION = "kustomization.yaml"
ARGOCD_FILE = "argocd-application.yaml"
FLUX_FILE = "flux-kustomization.yaml"
DELIVERY_FILES = (ARGOCD_FILE, FLUX_FILE)
"""Written beside the objects but not listed in the kustomization: they point a controller at the directory."""
RENDERED_MARK = "# Rendered by voxdeploy from stack "
"""How every file voxdeploy writes begins, and so how it knows its own files from anyone else's."""
HEADER = RENDERED_MARK + "{stack}. Do not edit: change the stack and render again.\n"
SHOWN_LEFT = 10
"""Files left alone that `render` names; the rest are counted."""


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


class RenderRefused(Exception):
    """The output directory holds something render must not overwrite; one line naming it and what to do."""


def _foreign(path: Path) -> str | None:
    """Why `path` is not a file voxdeploy rendered (a link, a directory, a file without its header), or None when
    it is one or is absent. Only regular files are opened, never through a symbolic link."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        return f"cannot be examined ({getattr(err, 'strerror', None) or err})"
    if stat.S_ISLNK(info.st_mode):
        return f"is a symbolic link (to {os.readlink(path)}); voxdeploy writes only regular files inside --out"
    if not stat.S_ISREG(info.st_mode):
        return "is a directory" if stat.S_ISDIR(info.st_mode) else "is not a regular file"
    mark = RENDERED_MARK.encode()
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(descriptor, "rb") as handle:
            start = handle.read(len(mark))
    except OSError as err:
        return f"cannot be read ({err.strerror})"
    return None if start == mark else f"was not written by voxdeploy (it does not begin with {RENDERED_MARK!r})"


def _ours(path: Path) -> bool:
    return os.path.lexists(path) and _foreign(path) is None


def _read_own(path: Path) -> str:
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(descriptor, encoding="utf-8") as handle:
        return handle.read()


def differences(files: Mapping[str, str], out: Path) -> list[str]:
    """What `write_directory` would change in `out`: one line per missing, changed, foreign or stale file."""
    found = []
    for name, content in files.items():
        path = out / name
        reason = _foreign(path)
        if reason is not None:
            found.append(f"not voxdeploy's: {name} {reason}")
        elif not os.path.lexists(path):
            found.append(f"missing: {name}")
        elif _read_own(path) != content:
            found.append(f"changed: {name}")
    for stale in sorted(_listed_before(out) - set(files)):
        if _ours(out / stale):
            found.append(f"stale: {stale}")
    return found


def _listed_before(out: Path) -> set[str]:
    """Names an earlier render may have written: the plain file names its kustomization lists, and the delivery
    manifests. Only candidates: a name is removed only if it is a regular file beginning with RENDERED_MARK, so a
    kustomization edited to list `..`, `/etc/passwd` or a hand-written Secret costs nothing."""
    names = set(DELIVERY_FILES)
    path = out / KUSTOMIZATION
    if not _ours(path):
        return names
    try:
        previous = load_yaml(_read_own(path))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return names
    resources = previous.get("resources") if isinstance(previous, dict) else None
    if isinstance(resources, list):
        names |= {name for name in resources if _plain_name(name)}
    return names


def _plain_name(name: object) -> bool:
    """A file name directly inside --out (what render writes), not `..`, `a/b` or an absolute path."""
    return isinstance(name, str) and name not in ("", ".", "..") and "/" not in name and "\0" not in name


@dataclass(frozen=True)
class Written:
    """What `write_directory` did: the files it wrote, and the files an earlier kustomization listed that it left
    because voxdeploy did not write them (a hand-written Secret)."""

    written: list[Path]
    left: list[str]

    def summary(self) -> str:
        """`left 1 listed file voxdeploy did not write: my-secret.yaml` (when it left any)."""
        count = len(self.left)
        names = ", ".join(self.left[:SHOWN_LEFT]) + (f" and {count - SHOWN_LEFT} more" if count > SHOWN_LEFT else "")
        return f"left {count} listed file{'s' * (count != 1)} voxdeploy did not write: {names}"


def replace_file(path: Path, content: str) -> None:
    """Write a new file beside `path` and rename it over `path`: a rename replaces a symbolic link planted there
    instead of writing through it, and a reader never sees half a file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(content)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_directory(files: Mapping[str, str], out: Path) -> Written:
    """Write the files into `out`; remove the files of an earlier render that this one no longer produces.

    Nothing voxdeploy did not write is overwritten or removed: a target that is a link, a directory or a file
    without the rendered header stops the render (RenderRefused) before anything changes.
    """
    out.mkdir(parents=True, exist_ok=True)
    for name in files:
        reason = _foreign(out / name)
        if reason is not None:
            raise RenderRefused(
                f"{out / name} {reason}: move it away or render into a directory of its own "
                "(list that directory from your kustomization)"
            )
    left = []
    for stale in sorted(_listed_before(out) - set(files)):
        if _ours(out / stale):
            (out / stale).unlink()
        elif os.path.lexists(out / stale):
            left.append(stale)
    written = []
    for name, content in files.items():
        replace_file(out / name, content)
        written.append(out / name)
    return Written(written, left)
