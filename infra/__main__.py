"""`pulumi up` entry point (Pulumi.yaml: main: infra/).

Pulumi runs this folder as a script with the interpreter of Pulumi.yaml's virtualenv, which must hold the
installed distribution with its `infra` extra (README: "pulumi up"); nothing is imported from the source tree.
"""

from voxdeploy.infra.pulumi_program import main

main()
