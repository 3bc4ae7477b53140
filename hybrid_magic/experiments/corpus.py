"""The development corpus: generated short-answer items in many task families, for routing research.

    items = corpus(n_per_family=40, seed=0)        # 28 families, answers computed by code
    leave_family_out(items)                         # -> [(family, train items, test items), ...]

Every item has `family` (also as `category`), `prompt`, `reference` and `scorer`
(one of experiments.scorers.SCORERS, picked by the `auto` scorer). Choose router
features, weights and thresholds with the family under test held out: a figure on
the families that chose them is not a result.
"""
from __future__ import annotations

import random

from ..errors import UsageError
from .datasets import Item, _normalise
from .families import FAMILIES

MAX_TRIES = 50  # draws per item before a family is declared too small for n_per_family distinct prompts


def corpus(n_per_family: int = 40, seed: int = 0, families: list[str] | None = None) -> list[Item]:
    """`n_per_family` distinct items from each family (all by default), fixed by the seed."""
    chosen = list(FAMILIES) if families is None else families
    unknown = [name for name in chosen if name not in FAMILIES]
    if unknown or n_per_family < 1:
        raise UsageError(f"corpus: choose n_per_family >= 1 and families from {', '.join(FAMILIES)} "
                         f"(unknown: {', '.join(unknown) or 'none'}).")
    items = [item for name in chosen for item in _family_items(name, n_per_family, seed)]
    return _normalise(items, origin=f"corpus(seed={seed})")


def _family_items(name: str, n: int, seed: int) -> list[Item]:
    rng, made, seen = random.Random(f"{seed}:{name}"), [], set()
    for _ in range(n * MAX_TRIES):
        item = FAMILIES[name](rng)
        if item["prompt"] not in seen:
            seen.add(item["prompt"])
            made.append({**item, "id": f"{name}-{len(made)}", "family": name, "category": name})
        if len(made) == n:
            return made
    raise UsageError(f"corpus: family {name} has fewer than {n} distinct prompts; ask for fewer.")


def leave_family_out(items: list[Item]) -> list[tuple[str, list[Item], list[Item]]]:
    """One fold per family: (that family, every other family's items, that family's items)."""
    names = sorted({item["family"] for item in items})
    return [(name, [i for i in items if i["family"] != name], [i for i in items if i["family"] == name])
            for name in names]
