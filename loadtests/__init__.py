"""Load tests and the release gate: Locust against the speech API, QPS / latency / RTF checked against a stack's SLO."""

API_KEY_ENV = "VOXDEPLOY_API_KEY"
"""The environment variable holding the API key the load test sends (`Authorization: Bearer`): how `voxdeploy
loadtest` hands it to Locust, never on a command line, where any user of the machine could read it."""
