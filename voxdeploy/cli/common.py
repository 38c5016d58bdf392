"""What every subcommand shares: exit codes, how a stack is named, environment defaults, output checks.

Nothing here imports infra, runtime or loadtests at module level: building the parser stays light.
"""

from __future__ import annotations

import argparse
import os
import socket
from pathlib import Path

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

ENV_PREFIX = "VOXDEPLOY_"
OUTPUT_FORMATS = ("text", "json", "yaml")


class UsageError(Exception):
    """A bad command line found after parsing (an output path we cannot write): one line, exit 2."""


def env_default(name: str, default: object = None) -> object:
    """The default of a common flag: VOXDEPLOY_<NAME> when set, else `default`; an explicit flag wins."""
    value = os.environ.get(ENV_PREFIX + name)
    return default if value in (None, "") else value


def env_help(name: str) -> str:
    return f"(env {ENV_PREFIX}{name})"


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stack",
        "-s",
        default=env_default("STACK", "dev"),
        help=f"stack name (stacks/Pulumi.<name>.yaml) or a path to a stack file [dev] {env_help('STACK')}",
    )
    add_stacks_dir_argument(parser)


def add_stacks_dir_argument(parser: argparse.ArgumentParser) -> None:
    stacks_dir = env_default("STACKS_DIR")
    parser.add_argument(
        "--stacks-dir",
        type=Path,
        default=Path(str(stacks_dir)) if stacks_dir else None,
        help=f"directory holding Pulumi.<stack>.yaml files {env_help('STACKS_DIR')}",
    )


def add_output_argument(parser: argparse.ArgumentParser) -> None:
    """`-o/--output text|json|yaml`, like kubectl and helm."""
    default = env_default("OUTPUT", "text")
    parser.add_argument(
        "--output",
        "-o",
        choices=OUTPUT_FORMATS,
        default=default,
        help=f"output format [text] {env_help('OUTPUT')}",
    )


def dump(document: object, output: str) -> str:
    """A machine-readable document as JSON or YAML text, ending in a newline."""
    if output == "yaml":
        import yaml

        return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    import json

    return json.dumps(document, indent=2) + "\n"


def writable_directory(path: Path, flag: str) -> Path:
    """Refuse (UsageError naming the path) an output directory that is a file, not writable, or a place that holds
    far more than what a command writes: the filesystem root, a home directory or one above it (like `rm -rf /`
    needing --no-preserve-root, a slip such as `--out $UNSET/` must not scatter files there)."""
    try:
        resolved, home = path.resolve(), Path.home().resolve()
        root = Path(resolved.anchor)
        if resolved in (root, home) or resolved in home.parents:
            where = "the filesystem root" if resolved == root else f"{resolved}, a home directory or one above it"
            raise UsageError(f"{flag} {path}: refusing to write into {where}; give a directory of its own")
        if resolved.exists() and not resolved.is_dir():
            raise UsageError(f"{flag} {path}: is an existing file, not a directory")
        _check_writable_ancestor(path, resolved, flag)
    except (OSError, ValueError) as err:  # a name too long, a NUL byte
        raise UsageError(f"{flag} {path}: {getattr(err, 'strerror', None) or err}") from None
    return path


def writable_file(path: Path, flag: str) -> Path:
    """Refuse an output file that is a directory, `/`, or under something we cannot write."""
    try:
        resolved = path.resolve()
        if resolved.is_dir():
            raise UsageError(f"{flag} {path}: is a directory, not a file")
        _check_writable_ancestor(path, resolved.parent, flag)
    except (OSError, ValueError) as err:
        raise UsageError(f"{flag} {path}: {getattr(err, 'strerror', None) or err}") from None
    return path


def _check_writable_ancestor(path: Path, resolved: Path, flag: str) -> None:
    ancestor = resolved
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UsageError(f"{flag} {path}: {ancestor} is a file, not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: {ancestor} is not writable")


def free_port() -> int:
    """A loopback port nobody listens on now, for the processes `demo` and the tests start."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def load_stack_from(args: argparse.Namespace):
    from voxdeploy.infra.config import load_stack

    return load_stack(args.stack, args.stacks_dir)
