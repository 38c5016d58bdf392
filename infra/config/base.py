"""Building blocks of the stack config models: Kubernetes quantities and names (StrictModel is in
voxdeploy.contracts.base, shared with the runtime).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema

_QUANTITY = re.compile(r"^(?P<number>[0-9]+(\.[0-9]+)?)(?P<suffix>m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_SUFFIX_FACTOR: dict[str, Decimal] = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}


def parse_quantity(text: str) -> Decimal:
    """Value of a Kubernetes quantity ('500m' -> 0.5, '16Gi' -> 17179869184), for comparing requests to limits."""
    match = _QUANTITY.match(text)
    if match is None:
        raise ValueError(
            f"{text!r} is not a Kubernetes quantity; use a number with an optional suffix "
            "such as 500m, 4, 16Gi or 512Mi"
        )
    try:
        number = Decimal(match["number"])
    except InvalidOperation as err:  # pragma: no cover - the regex only admits decimals
        raise ValueError(f"{text!r} is not a number") from err
    return number * _SUFFIX_FACTOR[match["suffix"] or ""]


def _quantity(value: object) -> str:
    """People write `cpu: 4` as often as `cpu: "4"`; both mean the same quantity."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"expected a Kubernetes quantity such as 4, 500m or 16Gi, got {value!r}")
    text = str(value)
    parse_quantity(text)
    return text


QUANTITY_JSON_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": _QUANTITY.pattern},
        {"type": "integer", "minimum": 0},
        {"type": "number", "minimum": 0},
    ]
}
"""What `_quantity` accepts, for `voxdeploy schema`: a quantity string, or a plain number (`cpu: 4`)."""

Quantity = Annotated[str, BeforeValidator(_quantity), WithJsonSchema(QUANTITY_JSON_SCHEMA)]
"""A Kubernetes resource quantity, kept as the text the user wrote."""

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
DnsLabel = Annotated[str, Field(pattern=DNS_LABEL, max_length=63)]
"""A Kubernetes name that must also be a DNS label (namespaces, services, containers)."""

_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")


def dns_subdomain_problem(text: str) -> str | None:
    """Why `text` is not a DNS subdomain (the syntax of most Kubernetes object names and label prefixes), or None."""
    if len(text) > 253 or not _DNS_SUBDOMAIN.fullmatch(text):
        return "not a DNS subdomain: lowercase letters, digits, '-' and '.', alphanumeric at both ends, <= 253 chars"
    return None


def label_key_problem(key: str) -> str | None:
    """Why `key` is not a Kubernetes label key ([prefix/]name), or None; the API server refuses such an object."""
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or dns_subdomain_problem(prefix)):
        return f"prefix {prefix!r} before '/' must be a DNS subdomain (e.g. example.com)"
    if len(name) > 63 or not _LABEL_NAME.fullmatch(name):
        return "name (after any prefix/) must be 1-63 alphanumerics, '-', '_' or '.', alphanumeric at both ends"
    return None


def label_value_problem(value: str) -> str | None:
    """Why `value` is not a Kubernetes label value (empty, or a label name), or None."""
    if value and (len(value) > 63 or not _LABEL_NAME.fullmatch(value)):
        return "must be empty or 1-63 alphanumerics, '-', '_' or '.', alphanumeric at both ends"
    return None


def _dns_subdomain(value: str) -> str:
    problem = dns_subdomain_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


DnsSubdomain = Annotated[
    str,
    AfterValidator(_dns_subdomain),
    WithJsonSchema({"type": "string", "pattern": f"^{_DNS_SUBDOMAIN.pattern}$", "maxLength": 253}),
]
"""A Kubernetes object name that must be a DNS subdomain (a PriorityClass, a Secret...)."""
