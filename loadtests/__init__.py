"""Load tests and the release gate: Locust against the speech API, QPS / latency / RTF checked against a stack's SLO."""
