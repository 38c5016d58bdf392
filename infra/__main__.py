"""`pulumi up` entry point (Pulumi.yaml: main: infra/)."""

import sys
from pathlib import Path

# Pulumi runs this folder as a script; the repository root must be importable for `infra.*`
# even when the distribution is not installed in the interpreter Pulumi picked.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra.pulumi_program import main  # noqa: E402

main()
