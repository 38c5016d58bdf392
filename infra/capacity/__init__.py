"""Capacity and cost planning of the cloud tier, and the autoscaling simulation: pure functions, no I/O."""
