"""The one jinja2 environment over templates/: undefined names are errors, never empty strings."""

from __future__ import annotations

from functools import cache
from importlib import resources

import jinja2

TEMPLATES_PACKAGE = "voxdeploy.templates"
"""Where the templates live: package data (the repository's templates/), read with importlib.resources."""


def _source(name: str) -> tuple[str, None, None]:
    """Template text by name; no file path and no reload check, since package data does not change."""
    try:
        return resources.files(TEMPLATES_PACKAGE).joinpath(name).read_text(encoding="utf-8"), None, None
    except (FileNotFoundError, IsADirectoryError):
        raise jinja2.TemplateNotFound(name) from None


@cache
def environment() -> jinja2.Environment:
    """Shared environment; StrictUndefined turns a typo in a template into an error at render time."""
    return jinja2.Environment(
        loader=jinja2.FunctionLoader(_source),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def render(name: str, **context: object) -> str:
    """Render templates/<name> with the given context."""
    return environment().get_template(name).render(**context)


def render_lines(name: str, **context: object) -> list[str]:
    """Render a one-item-per-line template (command lines) into its non-blank lines."""
    return [line.strip() for line in render(name, **context).splitlines() if line.strip()]
