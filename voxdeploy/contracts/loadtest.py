"""What a distributed load test's master and workers agree on: the port the workers connect to."""

from __future__ import annotations

LOCUST_MASTER_PORT = 5557
"""The port a Locust master listens on for its workers and they connect to: Locust's own default of
`--master-bind-port` and `--master-port` (locust/argument_parser.py, Locust 2.47). The runner passes it to both and
the cluster's load-test objects (Service, NetworkPolicies) open it, so one number serves all three."""
