"""The shipped text corpus and how a run mixes it."""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

CORPUS_FILE = "texts.yaml"
"""Package data of this package, read with importlib.resources."""
SIZES = ("short", "medium", "long")
LANGUAGES = ("en", "zh")
DEFAULT_SIZE_MIX = "short=0.5,medium=0.35,long=0.15"
"""How often each text length is picked unless a run says otherwise."""
DEFAULT_LANGUAGE_MIX = "en=0.5,zh=0.5"
"""How often each language is picked unless a run says otherwise."""


@dataclass(frozen=True)
class Pick:
    size: str
    language: str
    text: str


def parse_mix(spec: str, keys: tuple[str, ...]) -> dict[str, float]:
    """'short=0.6,long=0.4' -> weights; names and numbers are checked so a typo is an error, not a skew."""
    weights: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, value = part.partition("=")
        if name not in keys:
            raise ValueError(f"unknown {name!r} in mix {spec!r}; use {', '.join(keys)}")
        try:
            weights[name] = float(value)
        except ValueError:
            raise ValueError(f"weight of {name!r} in {spec!r} is not a number") from None
        if weights[name] < 0:
            raise ValueError(f"weight of {name!r} in {spec!r} is negative")
    if not weights or sum(weights.values()) <= 0:
        raise ValueError(f"mix {spec!r} gives no weight to anything; e.g. {keys[0]}=1")
    return weights


@cache
def corpus() -> dict[str, dict[str, list[str]]]:
    return yaml.safe_load(resources.files(__package__).joinpath(CORPUS_FILE).read_text(encoding="utf-8"))


def pick(rng: random.Random, sizes: dict[str, float], languages: dict[str, float]) -> Pick:
    size = rng.choices(list(sizes), weights=list(sizes.values()))[0]
    language = rng.choices(list(languages), weights=list(languages.values()))[0]
    return Pick(size, language, rng.choice(corpus()[size][language]))
