"""Hostile stack files and output paths: every one ends in exit 2 and one `error:` line naming the file and the
problem, fast, never a traceback; `render` never writes or deletes outside what it wrote itself.

The cases come from a generator (one function per category, ~150 cases), so a new kind of hostile input is a
line here. Each runs in-process within a liveness bound (not a benchmark: a bomb that regresses takes a minute).
"""

from __future__ import annotations

import os
import resource
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.support.processes import run_to_end
from tests.support.stacks import REPO, STACKS_DIR
from voxdeploy.cli import EXIT_OK, EXIT_USAGE, main
from voxdeploy.infra.config import load_stack
from voxdeploy.infra.config.errors import SHOWN_ISSUES, ConfigError
from voxdeploy.infra.config.safe_yaml import MAX_BYTES, MAX_DEPTH, MAX_VALUES, load_yaml
from voxdeploy.infra.render import HEADER, KUSTOMIZATION

LIVENESS_SECONDS = 20.0
"""Longest any case may take on a loaded CI machine; the refusals themselves take milliseconds."""

VICTIM = "a file outside --out that must never change\n"


@dataclass(frozen=True)
class Prepared:
    """What a case runs and what must hold afterwards."""

    argv: list[str]
    names: str  # what the error line must name: the stack file or the output path
    intact: dict[Path, bytes] = field(default_factory=dict)  # files that must be unchanged afterwards
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    """One hostile input: how to make it, what the error must say, and the exit code (2, or 0 for a render that
    must succeed while leaving what is not its own alone)."""

    category: str
    name: str
    prepare: Callable[[Path], Prepared]
    words: tuple[str, ...]
    rc: int = EXIT_USAGE
    lines: int = 1

    @property
    def id(self) -> str:
        return f"{self.category}-{self.name}"


def stack_text(body: str) -> str:
    """A stack file whose config holds `body` (YAML, indented as under `config:`); the defaults are valid, with
    the API open on purpose (auth.required: false) so each case is judged on its own problem."""
    if "voxdeploy:auth" not in body:
        body = f"{body}\nvoxdeploy:auth: {{required: false}}"
    indented = "".join(f"  {line}\n" if line else "\n" for line in body.splitlines())
    return "config:\n" + indented


def stack_file(content: str | bytes) -> Callable[[Path], Prepared]:
    def prepare(tmp: Path) -> Prepared:
        path = tmp / "Pulumi.hostile.yaml"
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
        return Prepared(["validate", "--stack", str(path)], str(path))

    return prepare


def stack_case(category: str, name: str, content: str | bytes, *words: str, lines: int = 1) -> Case:
    return Case(category, name, stack_file(content), words, lines=lines)


# ---- the generator: one function per category ------------------------------------------------------------------

KEY_SPELLINGS = {
    "int": "1",
    "float": "1.5",
    "null": "~",
    "null-word": "null",
    "bool": "true",
    "bool-yes": "yes",
    "bool-on": "on",
    "date": "2024-01-01",
    "hex": "0x1F",
    "binary": "!!binary aGk=",
}
KEY_POSITIONS = {
    "root": lambda key: f"{key}: x\nconfig: {{}}\n",
    "config": lambda key: stack_text(f"{key}: x"),
    "cloud": lambda key: stack_text(f"voxdeploy:cloud:\n  {key}: x"),
    "env": lambda key: stack_text(f"voxdeploy:cloud:\n  pod:\n    env:\n      {key}: x"),
    "labels": lambda key: stack_text(f"voxdeploy:labels:\n  {key}: x"),
}


def key_cases() -> Iterator[Case]:
    """Keys that are not strings (YAML 1.1 reads yes/on as booleans, 1 as an integer) wherever they stand."""
    for spelling, key in KEY_SPELLINGS.items():
        for position, make in KEY_POSITIONS.items():
            yield stack_case("key", f"{spelling}-at-{position}", make(key), "not a string")
    yield stack_case("key", "sequence", stack_text("? [a, b]\n: x"), "collection, not a string")
    yield stack_case("key", "mapping", stack_text("? {a: 1}\n: x"), "collection, not a string")


def duplicate_cases() -> Iterator[Case]:
    """A repeated key: YAML says keys are unique; PyYAML lets the last one silently win."""
    yield stack_case("duplicate", "root", "config: {}\nconfig: {}\n", "duplicate key 'config'", "line 1")
    yield stack_case(
        "duplicate", "config", stack_text("voxdeploy:namespace: a\nvoxdeploy:namespace: b"), "duplicate key"
    )
    yield stack_case(
        "duplicate",
        "nested",
        stack_text("voxdeploy:cloud:\n  pod:\n    image:\n      tag: 0.1.0\n      tag: latest"),
        "duplicate key 'tag'",
    )
    yield stack_case(
        "duplicate",
        "env",
        stack_text("voxdeploy:cloud:\n  pod:\n    env:\n      A: '1'\n      A: '2'"),
        "duplicate key 'A'",
    )
    yield stack_case("duplicate", "quoted", stack_text("'voxdeploy:stage': dev\nvoxdeploy:stage: prod"), "duplicate")
    yield stack_case(
        "duplicate", "escaped", stack_text('"voxdeploy:st\\x61ge": dev\nvoxdeploy:stage: prod'), "duplicate"
    )
    yield stack_case("duplicate", "both-spellings", stack_text("stage: dev\nvoxdeploy:stage: prod"), "sets stage again")


def nesting_cases() -> Iterator[Case]:
    """Nesting deep enough to overflow a recursive parser (Python's limit is 1,000 frames)."""
    for depth in (MAX_DEPTH + 1, 1_000, 10_000, 100_000):
        yield stack_case("deep", f"list-{depth}", stack_text(f"voxdeploy:cloud: {'[' * depth}{']' * depth}"), "deeper")
    yield stack_case("deep", "map-10000", stack_text(f"voxdeploy:cloud: {'{a: ' * 10_000}1{'}' * 10_000}"), "deeper")
    yield stack_case("deep", "root-10000", "[" * 10_000 + "]" * 10_000, "deeper")
    block = "".join(f"{'  ' * (level + 2)}a:\n" for level in range(300)) + "  " * 302 + "1\n"
    yield stack_case("deep", "block-map-300", "config:\n  voxdeploy:labels:\n" + block, "deeper")
    yield stack_case("deep", "block-list-10000", stack_text("voxdeploy:cloud:\n  " + "- " * 10_000 + "x"), "deeper")
    yield stack_case(
        "deep",
        "env-value",
        stack_text(f"voxdeploy:cloud:\n  pod:\n    env: {{A: {'[' * 10_000}{']' * 10_000}}}"),
        "deeper",
    )


def number_cases() -> Iterator[Case]:
    """Integers past Python's 4,300-digit parsing limit or any 64-bit field, and floats Kubernetes has no form for."""
    huge = "9" * 5_000
    at_replicas = lambda text: stack_text(f"voxdeploy:cloud:\n  replicas: {text}")  # noqa: E731
    yield stack_case("number", "5000-digits", at_replicas(huge), "64-bit")
    yield stack_case("number", "4301-digits", at_replicas("1" * 4_301), "64-bit")
    yield stack_case("number", "negative", at_replicas("-" + huge), "64-bit")
    yield stack_case("number", "underscored", at_replicas("1_" * 2_500 + "1"), "64-bit")
    yield stack_case("number", "hex", at_replicas("0x" + "f" * 5_000), "64-bit")
    yield stack_case("number", "octal", at_replicas("0" + "7" * 5_000), "64-bit")
    yield stack_case("number", "binary", at_replicas("0b" + "1" * 20_000), "64-bit")
    yield stack_case("number", "sexagesimal", at_replicas("1" + ":59" * 300), "64-bit")
    yield stack_case("number", "just-past-int64", at_replicas(str(2**63)), "64-bit")
    yield stack_case("number", "at-root", f"config: {huge}\n", "64-bit")
    yield stack_case("number", "as-label-value", stack_text(f"voxdeploy:labels: {{team: {huge}}}"), "64-bit")
    kv = lambda text: stack_text(f"voxdeploy:cloud:\n  engine:\n    kvCacheMemoryGib: {text}")  # noqa: E731
    yield stack_case("number", "inf", kv(".inf"), "not a finite number")
    yield stack_case("number", "overflowing-float", kv("1.0e+99999"), "not a finite number")
    yield stack_case("number", "nan", kv(".nan"), "not a finite number")
    yield stack_case("number", "minus-inf", stack_text("voxdeploy:slo:\n  p95Rtf: -.inf"), "not a finite number")


def lol(levels: int, width: int) -> str:
    """The billion-laughs document: each level an anchored list of `width` aliases of the level below."""
    lines = ["voxdeploy:lol:", '  l0: &l0 "lol"']
    for level in range(1, levels + 1):
        lines.append(f"  l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * width)}]")
    return stack_text("\n".join(lines))


def alias_cases() -> Iterator[Case]:
    """Aliases that expand to billions of values from a kilobyte; and aliases inside their own anchor."""
    yield stack_case("alias", "billion-laughs", lol(9, 9), "alias")
    yield stack_case("alias", "ten-by-ten", lol(10, 10), "alias")
    yield stack_case("alias", "narrow-deep", lol(40, 2), "alias")
    wide = "voxdeploy:wide:\n  base: &b [" + ", ".join(["x"] * 1_000) + "]\n  uses: [" + ", ".join(["*b"] * 200) + "]"
    yield stack_case("alias", "wide", stack_text(wide), "alias")
    merges = ["voxdeploy:merge:", "  m0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9}"]
    merges += [f"  m{n}: &m{n} {{<<: [{', '.join([f'*m{n - 1}'] * 9)}]}}" for n in range(1, 9)]
    yield stack_case("alias", "merge-keys", stack_text("\n".join(merges)), "alias")
    yield stack_case("alias", "in-labels", lol(9, 9).replace("voxdeploy:lol:", "voxdeploy:labels:"), "alias")
    yield stack_case("alias", "cycle-list", stack_text("voxdeploy:cloud: &a [*a]"), "cycle")
    yield stack_case("alias", "cycle-map", stack_text("voxdeploy:cloud: &a {pod: *a}"), "cycle")


def size_cases() -> Iterator[Case]:
    at_most = f"may be at most {MAX_BYTES:,}"
    yield stack_case("size", "comment-2MiB", stack_text("# " + "x" * (2 << 20)), at_most)
    yield stack_case("size", "value-2MiB", stack_text(f"voxdeploy:namespace: {'a' * (2 << 20)}"), at_most)
    one_over = stack_text("#") + "#" * (MAX_BYTES + 1 - len(stack_text("#")))
    yield stack_case("size", "one-byte-over", one_over, f"is {MAX_BYTES + 1:,} bytes")

    def sparse(tmp: Path) -> Prepared:
        path = tmp / "Pulumi.sparse.yaml"
        with path.open("wb") as handle:
            handle.truncate(64 << 20)
        return Prepared(["validate", "--stack", str(path)], str(path))

    yield Case("size", "sparse-64MiB", sparse, (at_most,))


def text_cases() -> Iterator[Case]:
    yield stack_case("text", "not-utf8", b"config: {voxdeploy:namespace: \xff}\n", "not UTF-8")
    yield stack_case("text", "utf16", "config: {}\n".encode("utf-16"), "not UTF-8")
    yield stack_case("text", "nul-byte", b"config:\n  voxdeploy:namespace: a\x00b\n", "#x0000")
    yield stack_case("text", "bell", b"config:\n  voxdeploy:namespace: a\x07b\n", "#x0007")
    surrogate = stack_text('voxdeploy:cloud:\n  pod:\n    env: {A: "\\ud800"}')
    yield stack_case("text", "lone-surrogate-value", surrogate, "surrogate")
    yield stack_case("text", "lone-surrogate-key", stack_text('voxdeploy:labels: {"\\udfff": a}'), "surrogate")
    yield stack_case("text", "syntax", "config: [1, 2\n", "not valid YAML at line")
    yield stack_case("text", "tab-indent", "config:\n\tvoxdeploy:stage: dev\n", "not valid YAML")


def shape_cases() -> Iterator[Case]:
    yield stack_case("shape", "list-root", "- a\n- b\n", "must be a mapping")
    yield stack_case("shape", "scalar-root", "hello\n", "must be a mapping")
    yield stack_case("shape", "two-documents", "config: {}\n---\nconfig: {}\n", "single document")
    yield stack_case("shape", "config-list", "config: [1]\n", "must be a mapping")
    yield stack_case("shape", "config-string", "config: text\n", "must be a mapping")
    yield stack_case("shape", "python-tag", 'config: !!python/object/apply:os.system ["true"]\n', "constructor")
    yield stack_case("shape", "custom-tag", stack_text("voxdeploy:namespace: !Ref Name"), "constructor")
    yield stack_case("shape", "undefined-alias", stack_text("voxdeploy:cloud: *nowhere"), "undefined alias")
    yield stack_case("shape", "binary-value", stack_text("voxdeploy:namespace: !!binary aGk="), "namespace")
    yield stack_case("shape", "set-as-labels", stack_text("voxdeploy:labels: !!set {a, b}"), "labels")
    yield stack_case("shape", "date-as-string", stack_text("voxdeploy:environment: 2024-01-01"), "environment")
    yield stack_case("shape", "long-string", stack_text(f"voxdeploy:namespace: {'a' * 500_000}"), "namespace")
    many = "voxdeploy:cloud:\n  pod:\n    tolerations: [" + ", ".join(["1"] * 5_000) + "]"
    yield stack_case("shape", "5000-bad-items", stack_text(many), "and 4,980 more", lines=SHOWN_ISSUES + 2)
    values = "voxdeploy:cloud:\n  pod:\n    tolerations: [" + ", ".join(["1"] * (MAX_VALUES + 1)) + "]"
    yield stack_case("shape", "too-many-values", stack_text(values), f"more than {MAX_VALUES:,} values")


def path_cases() -> Iterator[Case]:
    """The stack argument itself: a directory, a pipe, a device, a name no file system takes."""

    def at(make: Callable[[Path], Path], words: str, name: str) -> Case:
        def prepare(tmp: Path) -> Prepared:
            path = make(tmp)
            return Prepared(["validate", "--stack", str(path)], str(path))

        return Case("stack-path", name, prepare, (words,))

    def directory(tmp: Path) -> Path:
        (tmp / "Pulumi.dir.yaml").mkdir()
        return tmp / "Pulumi.dir.yaml"

    def fifo(tmp: Path) -> Path:
        os.mkfifo(tmp / "Pulumi.fifo.yaml")
        return tmp / "Pulumi.fifo.yaml"

    def device(tmp: Path) -> Path:
        (tmp / "Pulumi.zero.yaml").symlink_to("/dev/zero")
        return tmp / "Pulumi.zero.yaml"

    yield at(directory, "is a directory", "directory")
    yield at(fifo, "pipe", "fifo")
    yield at(device, "device", "dev-zero")
    yield at(lambda tmp: tmp / ("x" * 300 + ".yaml"), "no such stack file", "name-too-long")
    yield at(lambda tmp: tmp / "/".join(["y" * 200] * 30) / "Pulumi.x.yaml", "no such stack file", "path-too-long")


def secret_cases() -> Iterator[Case]:
    """Secrets written into the stack: rendered in plain text into the Deployment (and Git) today."""
    env = lambda key, value: stack_text(f"voxdeploy:cloud:\n  pod:\n    env:\n      {key}: '{value}'")  # noqa: E731
    token = "hf_" + "a1B2c3D4" * 5
    yield stack_case("secret", "hf-token", env("HF_TOKEN", token), "cloud.pod.env.HF_TOKEN", "hfTokenSecret")
    yield stack_case("secret", "token-value-any-name", env("EXTRA", token), "Hugging Face token")
    yield stack_case("secret", "api-key-name", env("OPENAI_API_KEY", "not-shaped-like-one"), "says it holds a secret")
    yield stack_case("secret", "password-name", env("DB_PASSWORD", "hunter2"), "says it holds a secret")
    yield stack_case("secret", "camel-case-name", env("awsSecretKeys", "abc"), "says it holds a secret")
    yield stack_case("secret", "sk-value", env("CLIENT", "sk-proj-" + "x" * 40), "API key")
    yield stack_case("secret", "url-password", env("DATABASE_URL", "postgres://app:hunter2@db:5432/x"), "password")
    yield stack_case(
        "secret",
        "engine-flag",
        stack_text("voxdeploy:cloud:\n  engine:\n    extraArgs: ['--api-key', 'plain-text-key']"),
        "cloud.engine.extraArgs[1]",
        "--api-key",
    )
    yield stack_case(
        "secret",
        "engine-flag-inline",
        stack_text(f"voxdeploy:cloud:\n  engine:\n    extraArgs: ['--hf-token={token}']"),
        "cloud.engine.extraArgs[0]",
    )


def kubernetes_syntax_cases() -> Iterator[Case]:
    """What the API server (or the container runtime) would refuse, refused before anything is applied."""
    for namespace in ("kube-system", "kube-public", "kube-node-lease", "kube-anything"):
        yield stack_case("namespace", namespace, stack_text(f"voxdeploy:namespace: {namespace}"), "kube-*")
    yield stack_case("namespace", "default", stack_text("voxdeploy:namespace: default"), "default namespace")
    image = lambda repository: stack_text(f"voxdeploy:cloud:\n  pod:\n    image: {{repository: '{repository}'}}")  # noqa: E731
    for name, repository in {
        "uppercase-path": "ghcr.io/VoxDeploy/runtime",
        "with-tag": "ghcr.io/voxdeploy/runtime:0.1.0",
        "with-digest": "ghcr.io/voxdeploy/runtime@sha256:" + "a" * 64,
        "space": "ghcr.io/vox deploy",
        "empty-part": "ghcr.io//runtime",
        "leading-dash": "-runtime",
        "trailing-slash": "ghcr.io/runtime/",
        "too-long": "a/" * 130 + "b",
    }.items():
        yield stack_case("image", name, image(repository), "image repository" if name != "too-long" else "255")
    yield stack_case("image", "bad-tag", stack_text("voxdeploy:cloud:\n  pod:\n    image: {tag: '-x'}"), "tag")
    hybrid = stack_text("voxdeploy:hybrid:\n  enabled: true\n  image: {repository: 'Router:1', tag: '1'}")
    yield stack_case("image", "router", hybrid, "hybrid.image.repository")
    label = lambda key: stack_text(f"voxdeploy:labels: {{'{key}': a}}")  # noqa: E731
    for name, key in {
        "double-dot-prefix": "a..b/c",
        "dash-prefix": "-a.io/c",
        "empty-name": "example.com/",
        "empty-prefix": "/name",
        "two-slashes": "a/b/c",
        "name-64": "n" * 64,
        "uppercase-prefix": "Example.com/x",
        "trailing-newline": "team\\n",
    }.items():
        yield stack_case("label", name, label(key).replace("'", '"'), "not a valid label key")
    yield stack_case(
        "label",
        "node-selector",
        stack_text("voxdeploy:cloud:\n  pod:\n    nodeSelector: {'gpu type': a}"),
        "nodeSelector",
    )
    yield stack_case(
        "label",
        "topology-key",
        stack_text("voxdeploy:cloud:\n  pod:\n    topologySpread: {topologyKey: 'a b'}"),
        "topologyKey",
    )
    priority = lambda name: stack_text(f"voxdeploy:cloud:\n  pod:\n    priorityClassName: '{name}'")  # noqa: E731
    yield stack_case("priority", "uppercase", priority("High"), "DNS subdomain")
    yield stack_case("priority", "underscore", priority("gpu_high"), "DNS subdomain")
    yield stack_case("priority", "too-long", priority("a" * 254), "DNS subdomain")
    yield stack_case("priority", "system", priority("system-node-critical"), "system-*")


def rendered_out(tmp: Path) -> Path:
    """An output directory holding a real earlier render of prod."""
    out = tmp / "out"
    assert main(["render", "--stack", "prod", "--stacks-dir", str(STACKS_DIR), "--out", str(out)]) == EXIT_OK
    return out


def render_argv(out: Path | str) -> list[str]:
    return ["render", "--stack", "prod", "--stacks-dir", str(STACKS_DIR), "--out", str(out)]


def victim(tmp: Path, name: str = "victim.yaml", content: str = VICTIM) -> Path:
    path = tmp / name
    path.write_text(content)
    return path


def output_cases() -> Iterator[Case]:
    """--out paths that cannot be written, or that hold something render must not write through or delete."""

    def out_at(name: str, make: Callable[[Path], str], *words: str, env: Callable[[Path], dict] | None = None) -> Case:
        def prepare(tmp: Path) -> Prepared:
            out = make(tmp)
            return Prepared(render_argv(out), str(Path(out)), env=env(tmp) if env else {})

        return Case("out", name, prepare, words)

    def a_file(tmp: Path) -> str:
        return str(victim(tmp, "afile"))

    yield out_at("a-file", a_file, "is an existing file")
    yield out_at("under-a-file", lambda tmp: a_file(tmp) + "/sub", "is a file, not a directory")
    yield out_at("unwritable", lambda tmp: "/proc/voxdeploy-hostile/out", "/proc/voxdeploy-hostile")
    yield out_at("name-too-long", lambda tmp: str(tmp / ("n" * 300)), "File name too long")
    yield out_at("path-too-long", lambda tmp: str(tmp / "/".join(["p" * 250] * 20)), "File name too long")
    yield out_at("nul-byte", lambda tmp: str(tmp / "a\0b"), "null byte")
    yield out_at("root", lambda tmp: "/", "filesystem root")
    yield out_at("root-double-slash", lambda tmp: "//", "filesystem root")
    yield out_at("root-dotdot", lambda tmp: "/tmp/../", "filesystem root")
    yield out_at("home", lambda tmp: str(tmp), "home directory", env=lambda tmp: {"HOME": str(tmp)})
    yield out_at("above-home", lambda tmp: str(tmp), "home directory", env=lambda tmp: {"HOME": str(tmp / "me")})

    def planted(name: str, link_name: str, target: Callable[[Path], Path], *words: str) -> Case:
        def prepare(tmp: Path) -> Prepared:
            out = rendered_out(tmp)
            aim = target(tmp)
            (out / link_name).unlink(missing_ok=True)
            (out / link_name).symlink_to(aim)
            intact = {aim: aim.read_bytes()} if aim.is_file() and not aim.is_symlink() else {}
            return Prepared(render_argv(out), str(out / link_name), intact=intact)

        return Case("symlink", name, prepare, words)

    yield planted("object-to-victim", "deployment-voxcpm.yaml", victim, "symbolic link")
    yield planted("kustomization-to-victim", KUSTOMIZATION, victim, "symbolic link")
    yield planted(
        "to-rendered-file-outside",
        "service-voxcpm.yaml",
        lambda tmp: victim(tmp, "elsewhere.yaml", HEADER.format(stack="prod") + "kind: Secret\n"),
        "symbolic link",
    )
    yield planted("dangling", "deployment-voxcpm.yaml", lambda tmp: tmp / "nothing-here", "symbolic link")
    yield planted("to-directory", "deployment-voxcpm.yaml", lambda tmp: tmp, "symbolic link")
    yield planted("loop", "deployment-voxcpm.yaml", lambda tmp: tmp / "out" / "deployment-voxcpm.yaml", "symbolic link")

    def hand_written(name: str, file_name: str, content: str, *words: str, directory: bool = False) -> Case:
        def prepare(tmp: Path) -> Prepared:
            out = tmp / "overlay"
            out.mkdir()
            secret = victim(out, "my-secret.yaml", "kind: Secret\n")
            if directory:
                (out / file_name).mkdir()
            else:
                (out / file_name).write_text(content)
            intact = {secret: secret.read_bytes()}
            if not directory:
                intact[out / file_name] = (out / file_name).read_bytes()
            return Prepared(render_argv(out), str(out / file_name), intact=intact)

        return Case("foreign", name, prepare, words)

    overlay = "resources: [my-secret.yaml, deployment-voxcpm.yaml]\n"
    yield hand_written("kustomization", KUSTOMIZATION, overlay, "not written by voxdeploy")
    yield hand_written("object-file", "deployment-voxcpm.yaml", "kind: Deployment\n", "not written by voxdeploy")
    yield hand_written("kustomization-directory", KUSTOMIZATION, "", "is a directory", directory=True)


def listed(name: str, resources: object, *words: str, raw: str | None = None) -> Case:
    """A voxdeploy kustomization (header and all) edited to list something else: render succeeds, deletes only
    its own files, leaves the rest and says so."""

    def prepare(tmp: Path) -> Prepared:
        out = rendered_out(tmp)
        outside = victim(tmp, "outside.yaml", HEADER.format(stack="prod") + "kind: ConfigMap\n")
        secret = victim(out, "my-secret.yaml", "kind: Secret\n")
        (out / "sub").mkdir()
        body = raw if raw is not None else yaml.safe_dump({"resources": resources})
        (out / KUSTOMIZATION).write_text(HEADER.format(stack="prod") + body)
        intact = {outside: outside.read_bytes(), secret: secret.read_bytes()}
        return Prepared(render_argv(out), str(out), intact=intact)

    return Case("listed", name, prepare, words, rc=EXIT_OK)


def listed_cases() -> Iterator[Case]:
    outside = "../outside.yaml"
    for name, entry in {"dotdot": "..", "dot": ".", "directory": "sub", "parent-file": outside}.items():
        yield listed(name, [entry, "deployment-voxcpm.yaml"], "wrote")
    yield listed("absolute", ["/etc/passwd", "/tmp/../etc/hostname"], "wrote")
    yield listed(
        "hand-written-secret", ["my-secret.yaml"], "left 1 listed file voxdeploy did not write: my-secret.yaml"
    )
    yield listed("nul-name", ["a\0b.yaml"], "wrote")
    yield listed("long-name", ["n" * 300 + ".yaml"], "wrote")
    yield listed("not-strings", [1, None, True, ["x"], {"a": 1}], "wrote")
    yield listed("resources-string", "my-secret.yaml", "wrote")
    yield listed("resources-mapping", {"my-secret.yaml": 1}, "wrote")
    yield listed("alias-bomb", None, "wrote", raw=lol(9, 9))
    yield listed("deep", None, "wrote", raw="resources: " + "[" * 10_000 + "]" * 10_000 + "\n")
    yield listed("not-yaml", None, "wrote", raw="resources: [a, b\n")
    yield listed("duplicate-resources", None, "wrote", raw="resources: [my-secret.yaml]\nresources: []\n")


def hostile_cases() -> list[Case]:
    """Every case, in a stable order."""
    generators = (
        key_cases,
        duplicate_cases,
        nesting_cases,
        number_cases,
        alias_cases,
        size_cases,
        text_cases,
        shape_cases,
        path_cases,
        secret_cases,
        kubernetes_syntax_cases,
        output_cases,
        listed_cases,
    )
    return [case for generator in generators for case in generator()]


CASES = hostile_cases()


def test_the_generator_covers_every_category() -> None:
    categories = {case.category for case in CASES}
    assert len(CASES) >= 100 and len({case.id for case in CASES}) == len(CASES)
    assert {"key", "duplicate", "deep", "number", "alias", "size", "out", "symlink", "listed", "secret"} <= categories


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_hostile_input_gets_one_clear_line(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    prepared = case.prepare(tmp_path)
    capsys.readouterr()
    for name, value in prepared.env.items():
        monkeypatch.setenv(name, value)
    started = time.monotonic()
    try:
        rc = main(prepared.argv)
    except BaseException as err:  # what a user would see as a traceback
        pytest.fail(f"{case.id}: {type(err).__name__} escaped (a traceback): {str(err)[:300]}")
    elapsed = time.monotonic() - started
    out, err = capsys.readouterr()
    assert elapsed < LIVENESS_SECONDS, f"{case.id} took {elapsed:.1f} s"
    assert rc == case.rc, f"{case.id}: exit {rc}\n{err[:2000]}"
    for path, content in prepared.intact.items():
        assert path.read_bytes() == content, f"{case.id} changed {path}"
    if case.rc == EXIT_OK:
        assert err == "" and all(word in out for word in case.words), out
        return
    lines = err.splitlines()
    assert len(lines) == case.lines and lines[0].startswith("error: "), err[:2000]
    assert prepared.names in lines[0], err[:2000]
    assert all(word in err for word in case.words), err[:2000]
    assert all(len(line) < 2_000 + 2 * len(prepared.names) for line in lines), "a value shown whole"


def test_an_alias_bomb_is_refused_in_a_small_process_fast(tmp_path: Path) -> None:
    """The real command under a 2 GiB address-space limit: today's bomb grew to 3.3 GB over a minute, and aborted."""
    path = tmp_path / "Pulumi.bomb.yaml"
    path.write_text(lol(9, 9))

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    started = time.monotonic()
    result = run_to_end(
        [sys.executable, "-m", "voxdeploy", "validate", "--stack", str(path)], 60, cwd=REPO, preexec_fn=limited
    )
    assert time.monotonic() - started < LIVENESS_SECONDS
    assert result.returncode == EXIT_USAGE and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith(f"error: {path}: invalid configuration: line ") and "alias" in result.stderr


def test_merge_keys_and_a_bom_still_load(tmp_path: Path) -> None:
    """The bounds refuse attacks, not YAML people write: merges that override, a UTF-8 BOM, tokens-as-counts."""
    path = tmp_path / "Pulumi.merge.yaml"
    body = (
        "x-defaults: &defaults {maxConcurrentRequests: 4, maxQueuedRequests: 8}\n"
        "config:\n"
        "  voxdeploy:auth: {required: false}\n"
        "  voxdeploy:namespace: default\n"
        "  voxdeploy:createNamespace: false\n"
        "  voxdeploy:cloud:\n"
        "    server: {<<: *defaults, maxQueuedRequests: 16}\n"
        "    pod:\n"
        "      image: {repository: 'localhost:5000/voxdeploy/runtime_cloud', tag: '0.1.0'}\n"
        "      priorityClassName: gpu.high-priority\n"
        "      env: {TOKENIZERS_PARALLELISM: 'false', MAX_TOKENS: '4096',\n"
        "            GOOGLE_APPLICATION_CREDENTIALS: /var/run/secrets/key.json}\n"
        "  voxdeploy:labels: {example.com/team: voice, 'a.b-c.d/x_y': ''}\n"
    )
    path.write_bytes(b"\xef\xbb\xbf" + body.encode())
    config = load_stack(str(path)).config
    assert (config.cloud.server.max_concurrent_requests, config.cloud.server.max_queued_requests) == (4, 16)
    assert config.cloud.pod.env["TOKENIZERS_PARALLELISM"] == "false"


def test_yaml_bounds_name_the_line() -> None:
    with pytest.raises(yaml.YAMLError) as caught:
        load_yaml("a: 1\nb:\n  c: 2\n  c: 3\n")
    assert caught.value.problem_mark.line == 3 and "first at line 3" in str(caught.value.problem)  # type: ignore[attr-defined]


def test_a_config_error_of_one_problem_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.one.yaml"
    path.write_text(stack_text("voxdeploy:namespace: kube-system"))
    with pytest.raises(ConfigError) as caught:
        load_stack(str(path))
    assert "\n" not in str(caught.value) and str(caught.value).startswith(f"{path}: invalid configuration: namespace")


# ---- render: nothing outside --out, nothing it did not write ---------------------------------------------------


def test_render_replaces_its_own_files_and_removes_only_its_own_stale_ones(tmp_path: Path, capsys) -> None:
    out = rendered_out(tmp_path)
    (out / "my-secret.yaml").write_text("kind: Secret\n")
    kustomization = yaml.safe_load((out / KUSTOMIZATION).read_text())
    kustomization["resources"] += ["my-secret.yaml", "stale-object.yaml"]
    (out / KUSTOMIZATION).write_text(HEADER.format(stack="prod") + yaml.safe_dump(kustomization))
    (out / "stale-object.yaml").write_text(HEADER.format(stack="prod") + "kind: ConfigMap\n")
    capsys.readouterr()
    assert main(render_argv(out)) == EXIT_OK
    printed = capsys.readouterr().out
    assert (out / "my-secret.yaml").read_text() == "kind: Secret\n"
    assert not (out / "stale-object.yaml").exists()
    assert "left 1 listed file voxdeploy did not write: my-secret.yaml" in printed
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")], "no temporary file left behind"


def test_render_check_reports_a_planted_link_without_reading_through_it(tmp_path: Path, capsys) -> None:
    out = rendered_out(tmp_path)
    target = victim(tmp_path)
    (out / "deployment-voxcpm.yaml").unlink()
    (out / "deployment-voxcpm.yaml").symlink_to(target)
    capsys.readouterr()
    assert main([*render_argv(out), "--check"]) == 1
    assert "not voxdeploy's: deployment-voxcpm.yaml is a symbolic link" in capsys.readouterr().out
    assert target.read_text() == VICTIM


def test_a_render_that_is_refused_changes_nothing(tmp_path: Path) -> None:
    out = rendered_out(tmp_path)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    (out / "service-voxcpm.yaml").unlink()
    (out / "service-voxcpm.yaml").symlink_to(victim(tmp_path))
    assert main(render_argv(out)) == EXIT_USAGE
    after = {p.name: p.read_bytes() for p in out.iterdir() if not p.is_symlink()}
    assert after == {name: content for name, content in before.items() if name != "service-voxcpm.yaml"}


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_an_unwritable_out_is_one_line(tmp_path: Path, capsys) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert main(render_argv(locked / "out")) == EXIT_USAGE
    assert capsys.readouterr().err.count("\n") == 1


def test_the_cases_run_as_the_real_command_too(tmp_path: Path) -> None:
    """A few cases through `python -m voxdeploy`, so what an in-process run cannot show (an abort) is covered."""
    for name in ("deep-root-10000", "number-5000-digits", "symlink-object-to-victim"):
        case = next(case for case in CASES if case.id == name)
        directory = tmp_path / name
        directory.mkdir()
        prepared = case.prepare(directory)
        result = run_to_end([sys.executable, "-m", "voxdeploy", *prepared.argv], 60, cwd=REPO)
        assert result.returncode == case.rc and "Traceback" not in result.stderr, (name, result.stderr)
        assert result.stderr.count("\n") == 1 and prepared.names in result.stderr, (name, result.stderr)
        for path, content in prepared.intact.items():
            assert path.read_bytes() == content, (name, path)
