"""Series names used in PromQL text, for checking rules and panels against what really exists.

Not a PromQL parser: it removes what cannot be a series name (strings, label matchers, range and
grouping clauses, function calls, keywords, numbers) and keeps the identifiers left. The tests that use
it also require every name found to be known (catalogue, recording rule or external), so anything it
mis-reads fails loudly rather than passing quietly.
"""

from __future__ import annotations

import re

KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset"}
)
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_CLAUSES = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"(?<![\w:.])([A-Za-z_:][\w:]*)(?!\w)(\s*\()?")


def series_names(expr: str) -> set[str]:
    """Metric and recording-rule names an expression reads."""
    text = _CLAUSES.sub(" ", _RANGES.sub(" ", _MATCHERS.sub(" ", _STRINGS.sub(" ", expr))))
    names = set()
    for match in _IDENTIFIER.finditer(text):
        name, call = match[1], match[2]
        if call is None and name not in KEYWORDS and not re.fullmatch(r"(?i)inf|nan", name):
            names.add(name)
    return names
