"""Pulumi's own mocks, recording what the program registers, and stack keys as the Pulumi CLI hands them over."""

from __future__ import annotations

import asyncio
import json

import pulumi

from tests.support.stacks import read_stack_file
from voxdeploy.infra.config import PROJECT
from voxdeploy.infra.pulumi_program import main


class RecordingMocks(pulumi.runtime.Mocks):
    """Records every resource the program registers; outputs echo the inputs, like a dry run."""

    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []
        self.reads: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        """Created resources go to `resources`; `Resource.get` reads of existing ones (an id given) to `reads`."""
        if args.resource_id:
            self.reads.append(args)
            return args.resource_id, {}
        self.resources.append(args)
        return f"{args.name}-id", args.inputs

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


def as_pulumi_config(keys: dict) -> dict[str, str]:
    """How the Pulumi CLI hands stack-file keys to a program: text as is, everything else as JSON."""
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in keys.items()}


def fresh_mocks(stack: str) -> RecordingMocks:
    """Mocks on a fresh event loop: Pulumi's test harness needs a current loop, which an earlier
    asyncio.run() in the same worker process leaves unset."""
    asyncio.set_event_loop(asyncio.new_event_loop())
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False)
    return mocks


def run_program(stack: str, keys: dict | None = None) -> tuple[RecordingMocks, dict]:
    """Run infra's Pulumi program with the stack file's config (or `keys`, a stack document's `config`), the way
    `pulumi up --stack` would: (the mocks, with `environment` and the URNs of its resources and concerns)."""
    mocks = fresh_mocks(stack)
    pulumi.runtime.set_all_config(as_pulumi_config(read_stack_file(stack)["config"] if keys is None else keys))
    result: dict = {}

    @pulumi.runtime.test
    def program():
        environment = main()
        result["environment"] = environment
        children = [r.urn for concern in environment.concerns for r in concern.resources]
        concerns = [concern.urn for concern in environment.concerns]
        return pulumi.Output.all(*children, *concerns).apply(
            lambda urns: result.update(urns=urns[: len(children)], concern_urns=urns[len(children) :])
        )

    program()
    return mocks, result
