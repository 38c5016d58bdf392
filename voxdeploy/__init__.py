"""voxdeploy: VoxCPM2 text-to-speech from a typed environment to Kubernetes, a runtime and a load-test gate.

One import namespace over the repository's layout: `voxdeploy.infra` (infra/), `voxdeploy.runtime` (runtime/),
`voxdeploy.loadtests` (loadtests/), `voxdeploy.contracts` (what infra and runtime both speak) and the CLI.
Kept free of imports: `voxdeploy.runtime` must not pay for the CLI, nor the CLI for the runtime.
"""
