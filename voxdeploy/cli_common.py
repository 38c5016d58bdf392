"""What every subcommand shares: exit codes and how a stack is named on the command line."""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stack", "-s", default="dev", help="stack name (stacks/Pulumi.<name>.yaml) or a path to a stack file [dev]"
    )
    parser.add_argument("--stacks-dir", type=Path, default=None, help="directory holding Pulumi.<stack>.yaml files")


def free_port() -> int:
    """A loopback port nobody listens on now, for the processes `demo` and the tests start."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def load_stack_from(args: argparse.Namespace):
    from voxdeploy.infra.config import load_stack

    return load_stack(args.stack, args.stacks_dir)
