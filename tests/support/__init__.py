"""Helpers shared by the tests: import them from here, never from another test module or a conftest."""
