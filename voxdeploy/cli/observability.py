"""`voxdeploy rules`, `scrape-config` and `runbooks`: the observability files for people without the operator.

`register(sub)` adds the three subcommands to the console script's parser; each handler imports the
builders only when it runs, like the rest of the CLI, so `voxdeploy --help` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from voxdeploy.cli.common import EXIT_OK, add_stack_arguments, load_stack_from, writable_directory, writable_file


def _watched_stack(args: argparse.Namespace):  # -> infra.config.Stack, typed lazily to keep start-up light
    """The stack, refused (exit 2) when it runs nothing the rules watch: no cloud tier, edge pools or router."""
    from voxdeploy.infra.config.errors import ConfigError, ConfigIssue
    from voxdeploy.infra.observability.watch import watches

    stack = load_stack_from(args)
    if not watches(stack.config):
        issue = ConfigIssue("cloud.enabled", False, "nothing to watch: enable the cloud tier, edge pools or hybrid")
        raise ConfigError(str(stack.path), [issue])
    return stack


def _write(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text)
    else:
        from voxdeploy.infra.render import replace_file

        writable_file(out, "--out")
        out.parent.mkdir(parents=True, exist_ok=True)
        replace_file(out, text)
        print(f"wrote {out}", file=sys.stderr)


def cmd_rules(args: argparse.Namespace) -> int:
    from voxdeploy.infra.observability.rules import rule_file
    from voxdeploy.infra.render import HEADER, to_yaml

    stack = _watched_stack(args)
    _write(HEADER.format(stack=stack.name) + to_yaml(rule_file(stack.config)), args.out)
    return EXIT_OK


def cmd_scrape_config(args: argparse.Namespace) -> int:
    from voxdeploy.infra.observability.scrape import scrape_configs
    from voxdeploy.infra.render import HEADER, to_yaml

    stack = _watched_stack(args)
    usage = "# Merge into prometheus.yml; load the rules from `voxdeploy rules` under rule_files.\n"
    document = {"scrape_configs": scrape_configs(stack.config)}
    _write(HEADER.format(stack=stack.name) + usage + to_yaml(document), args.out)
    return EXIT_OK


def cmd_runbooks(args: argparse.Namespace) -> int:
    from voxdeploy.infra.observability.runbooks import render_runbooks
    from voxdeploy.infra.render import replace_file

    stack = _watched_stack(args)
    files = render_runbooks(stack.config)
    writable_directory(args.out, "--out")
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        replace_file(args.out / name, text)
    print(f"wrote {len(files)} runbooks to {args.out}/")
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    """Add the observability subcommands to the `voxdeploy` parser."""
    rules = sub.add_parser("rules", help="write the stack's alert and recording rules as a Prometheus rule file")
    add_stack_arguments(rules)
    rules.add_argument("--out", type=Path, default=None, help="output file [stdout]")
    rules.set_defaults(handler=cmd_rules)

    scrape = sub.add_parser("scrape-config", help="print the Prometheus scrape config matching the rules")
    add_stack_arguments(scrape)
    scrape.add_argument("--out", type=Path, default=None, help="output file [stdout]")
    scrape.set_defaults(handler=cmd_scrape_config)

    runbooks = sub.add_parser("runbooks", help="render the runbooks the alerts link to, as Markdown")
    add_stack_arguments(runbooks)
    runbooks.add_argument("--out", type=Path, required=True, help="output directory")
    runbooks.set_defaults(handler=cmd_runbooks)
