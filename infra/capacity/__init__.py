"""Capacity and cost planning of the cloud tier: pure functions, no I/O.

The step-load autoscaling simulation that checks the scaling signals is test support
(tests/support/scaling_simulation.py), not part of the product.
"""
