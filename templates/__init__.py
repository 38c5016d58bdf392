"""Package data: the jinja2 templates (engine command lines, runbooks), read with importlib.resources."""
