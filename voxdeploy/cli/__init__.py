"""`voxdeploy`: one console script; each subcommand is a module here that registers itself.

Every module in COMMANDS has `register(subparsers)`, adding its subcommand(s) with a `handler`; the
modules import only the standard library, pydantic and voxdeploy.contracts at load, and the part of the
project a subcommand needs (infra, runtime, loadtests) when it runs, so `voxdeploy --help` stays fast.

Exit codes follow the tools our users already script around: 0 success, 1 the command ran and found
a difference or failure, 2 bad usage or an invalid stack (the message names the key and the file),
130 interrupted (Ctrl-C; what was written stays).
"""

from __future__ import annotations

import argparse
import difflib
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from voxdeploy.cli import batch, completion, demo, loadtest, observability, plan, render, schema, serve, validate
from voxdeploy.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    OUTPUT_FORMATS,
    UsageError,
    env_default,
    env_help,
)

__all__ = ["COMMANDS", "EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]

COMMANDS = (validate, plan, render, schema, serve, loadtest, batch, demo, observability, completion)
"""The command modules, in the order `voxdeploy --help` lists them."""

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

_INVALID_CHOICE = re.compile(r"invalid choice: '(?P<given>[^']*)' \(choose from (?P<choices>.*)\)")


class Parser(argparse.ArgumentParser):
    """argparse with a 'did you mean' for a mistyped choice (a subcommand, an -o format)."""

    def error(self, message: str) -> NoReturn:
        match = _INVALID_CHOICE.search(message)
        if match:
            choices = re.findall(r"'([^']*)'", match["choices"])
            close = difflib.get_close_matches(match["given"], choices, n=1)
            if close:
                message += f"; did you mean '{close[0]}'?"
        super().error(message)


def _log_level(text: str) -> str:
    level = text.upper()
    if level not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"invalid choice: '{text}' (choose from {', '.join(LOG_LEVELS)})")
    return level


def build_parser() -> argparse.ArgumentParser:
    from voxdeploy.contracts.version import VERSION

    parser = Parser(
        prog="voxdeploy",
        description="VoxCPM2 text-to-speech on Kubernetes: typed stacks -> objects, Pulumi, GitOps YAML. "
        "Common flags also read VOXDEPLOY_<FLAG> environment variables (VOXDEPLOY_STACK, VOXDEPLOY_STACKS_DIR, "
        "VOXDEPLOY_OUTPUT, VOXDEPLOY_LOG_LEVEL); a flag given on the command line wins.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {VERSION}")
    log_help = f"log level: {', '.join(LOG_LEVELS)} [INFO; serve: its settings'] {env_help('LOG_LEVEL')}"
    parser.add_argument("--log-level", type=_log_level, default=env_default("LOG_LEVEL"), help=log_help)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    for command in COMMANDS:
        command.register(sub)
    for subparser in sub.choices.values():  # `voxdeploy plan --log-level DEBUG` works as well as before it
        subparser.add_argument("--log-level", type=_log_level, default=argparse.SUPPRESS, help=log_help)
    return parser


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse, and report an unknown flag with the usage of the subcommand it was given to."""
    args, extras = parser.parse_known_args(argv)
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    command: argparse.ArgumentParser = subparsers.choices[args.command]
    if extras:
        command.error(f"unrecognized arguments: {' '.join(extras)}")
    if args.log_level is not None and args.log_level.upper() not in LOG_LEVELS:  # from VOXDEPLOY_LOG_LEVEL
        parser.error(f"VOXDEPLOY_LOG_LEVEL={args.log_level!r}: choose from {', '.join(LOG_LEVELS)}")
    if args.log_level is not None:
        args.log_level = args.log_level.upper()
    if getattr(args, "output", None) is not None and args.output not in OUTPUT_FORMATS:
        command.error(f"VOXDEPLOY_OUTPUT={args.output!r}: choose from {', '.join(OUTPUT_FORMATS)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(build_parser(), argv)
    level = args.log_level or "INFO"
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if level != "DEBUG":
        # httpx logs each request it sends at INFO: the demo's and the load test's readiness polls, not news
        logging.getLogger("httpx").setLevel(logging.WARNING)
    handler: Callable[[argparse.Namespace], int] = args.handler
    from voxdeploy.infra.config.errors import ConfigError

    try:
        return handler(args)
    except (ConfigError, UsageError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except (PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError) as err:
        print(f"error: cannot write {err.filename}: {err.strerror}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # Ctrl-C: one line, the conventional 128 + SIGINT; files written are kept
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `voxdeploy plan | head`: the reader left; say nothing more, like kubectl
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
