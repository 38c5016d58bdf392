"""`voxdeploy schema`: the JSON schema of a stack FILE as editors see it.

A stack file is `config:` mapping Pulumi keys to values: `voxdeploy:<key>` (or the bare `<key>`, which the
loader reads the same) for DeploymentConfig's fields, `voxdeploy:hfToken: {secure: ...}` for the one
secret, and any other namespace's keys (`kubernetes:context`, `pulumi:tags`), which belong to Pulumi.
The per-key schemas are DeploymentConfig's own validation schema, so the editor accepts what the loader does.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from voxdeploy.cli.common import EXIT_OK


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    schema = sub.add_parser("schema", help="print the JSON schema of a stack file (for editors)")
    schema.set_defaults(handler=run)
    return schema


def stack_file_schema() -> dict[str, Any]:
    from voxdeploy.infra.config import DeploymentConfig
    from voxdeploy.infra.config.loader import PROJECT
    from voxdeploy.infra.config.secrets import SECRET_VALUE_KEYS

    config = DeploymentConfig.model_json_schema(by_alias=True, mode="validation")
    definitions = config.pop("$defs", {})
    secret = {
        "type": "object",
        "description": "A Pulumi secret: `pulumi config set --secret <key> <value>` writes it.",
        "properties": {"secure": {"type": "string"}},
        "required": ["secure"],
        "additionalProperties": False,
    }
    keys: dict[str, Any] = {}
    for name, schema in {**config["properties"], **dict.fromkeys(SECRET_VALUE_KEYS, secret)}.items():
        keys[f"{PROJECT}:{name}"] = schema
        keys[name] = schema
    required = [{"anyOf": [{"required": [f"{PROJECT}:{n}"]}, {"required": [n]}]} for n in config.get("required", [])]
    config_schema: dict[str, Any] = {
        "type": "object",
        "description": config.get("description", "voxdeploy stack config"),
        "properties": keys,
        "patternProperties": {f"^(?!{PROJECT}:)[A-Za-z0-9_.-]+:.+$": {}},
        "additionalProperties": False,
    }
    if required:
        config_schema["allOf"] = required
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "voxdeploy stack file (stacks/Pulumi.<stack>.yaml)",
        "type": ["object", "null"],
        "properties": {"config": config_schema},
        "$defs": definitions,
    }


def run(args: argparse.Namespace) -> int:
    sys.stdout.write(json.dumps(stack_file_schema(), indent=2, sort_keys=True) + "\n")
    return EXIT_OK
