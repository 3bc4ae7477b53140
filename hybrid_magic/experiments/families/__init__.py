"""Task families for the development corpus: each a function (random.Random) -> item.

An item has `prompt`, `reference` (computed by code, never written by hand) and
`scorer` (a name in experiments.scorers.SCORERS); `options` where the scorer picks
one of several. Families are grouped by kind in the modules below; FAMILIES is
the one registry, in a fixed order so a seed always gives the same corpus.
"""
from __future__ import annotations

from collections.abc import Callable
import random

from . import knowledge, logic, numbers, words

Family = Callable[[random.Random], dict]

FAMILIES: dict[str, Family] = {**numbers.FAMILIES, **words.FAMILIES, **logic.FAMILIES, **knowledge.FAMILIES}

__all__ = ["FAMILIES", "Family"]
