"""Load tests and the release gate: Locust against the speech API, QPS / latency / RTF checked against a stack's SLO."""

from voxdeploy.contracts.api import API_KEY_ENV

__all__ = ["API_KEY_ENV"]
