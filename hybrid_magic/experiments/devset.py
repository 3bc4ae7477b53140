"""A development set for choosing router signals and thresholds, disjoint from the built-in sets.

Tune on `dev_set()`, report on `builtin_mix(30)`: numbers picked on the items they
are reported on are optimistic. Items are generated from a seed (arithmetic and
unit conversions of varied difficulty, JSON formatting) plus a written list of
facts; every prompt differs from every built-in prompt.
"""
from __future__ import annotations

import random
from collections.abc import Callable

from ..errors import UsageError
from .datasets import BUILTIN_FILES, Item, _normalise, load_builtin

NUMBER_ONLY = " Answer with the number only."
FEW_WORDS = " Answer in a few words."
JSON_ONLY = " Reply with the JSON only."

FACTS = [  # (question, reference, difficulty); none of them is in factual.jsonl
    ("What is the capital of Italy?", "Rome", 1), ("What is the capital of Germany?", "Berlin", 1),
    ("What is the capital of Spain?", "Madrid", 1), ("What is the capital of Egypt?", "Cairo", 1),
    ("How many days are in a week?", "7", 1), ("What color is the sky on a clear day?", "blue", 1),
    ("What is the chemical symbol for water?", "H2O", 1), ("Which animal is known as the king of the jungle?", "lion", 1),
    ("What is the capital of Russia?", "Moscow", 2), ("Who wrote Hamlet?", "Shakespeare", 2),
    ("What is the largest ocean on Earth?", "Pacific", 2), ("How many continents are there?", "7", 2),
    ("What is the chemical symbol for iron?", "Fe", 2), ("Who painted The Starry Night?", "Van Gogh", 2),
    ("What is the capital of Brazil?", "Brasilia", 3), ("What is the capital of Switzerland?", "Bern", 3),
    ("What is the capital of New Zealand?", "Wellington", 3), ("What is the chemical symbol for silver?", "Ag", 3),
    ("Who discovered penicillin?", "Fleming", 3), ("What is the capital of Nigeria?", "Abuja", 3),
]

UNITS = [  # (question template, factor, difficulty)
    ("How many centimeters are in {n} meters?", 100, 1), ("How many seconds are in {n} minutes?", 60, 1),
    ("How many months are in {n} years?", 12, 1), ("How many grams are in {n} kilograms?", 1000, 2),
    ("How many minutes are in {n} hours?", 60, 2), ("How many inches are in {n} feet?", 12, 2),
    ("How many hours are in {n} days?", 24, 3), ("How many ounces are in {n} pounds?", 16, 3),
]

JSON_VALUES = [("name", "Eve"), ("city", "Rome"), ("color", "green"), ("count", 5), ("active", False),
               ("score", 12), ("lang", "en"), ("size", 9)]


def _arithmetic(rng: random.Random, difficulty: int) -> Item:
    digits = {1: (1, 9), 2: (11, 99), 3: (101, 999)}[difficulty]
    op = rng.choice("+-*")
    a, b = rng.randint(*digits), rng.randint(*digits)
    if op == "*" and difficulty == 3:
        b = rng.randint(11, 99)  # three-digit times two-digit
    a, b = (a, b) if op != "-" or a >= b else (b, a)
    value = {"+": a + b, "-": a - b, "*": a * b}[op]
    return {"prompt": f"What is {a} {op} {b}?{NUMBER_ONLY}", "reference": value, "scorer": "numeric",
            "category": "arithmetic", "difficulty": difficulty}


def _units(rng: random.Random, difficulty: int) -> Item:
    template, factor, level = rng.choice([u for u in UNITS if u[2] == difficulty])
    n = rng.randint(2, 9) if difficulty < 3 else rng.randint(3, 15)
    return {"prompt": template.format(n=n) + NUMBER_ONLY, "reference": n * factor, "scorer": "numeric",
            "category": "units", "difficulty": level}


def _json(rng: random.Random, difficulty: int) -> Item:
    pairs = rng.sample(JSON_VALUES, difficulty)
    described = " and ".join(f'"{k}" set to {_spoken(v)}' for k, v in pairs)
    return {"prompt": f"Write a JSON object with {described}.{JSON_ONLY}", "reference": dict(pairs),
            "scorer": "json", "category": "json", "difficulty": difficulty, "format": "json"}


def _spoken(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return f'"{value}"' if isinstance(value, str) else f"the number {value}"


GENERATORS: dict[str, Callable[[random.Random, int], Item]] = {
    "arithmetic": _arithmetic, "units": _units, "json": _json}


def dev_set(n: int = 60, seed: int = 0) -> list[Item]:
    """`n` items (a quarter each: arithmetic, units, facts, JSON; difficulties 1-3), fixed by the seed."""
    if n < 4:
        raise UsageError(f"dev_set(n={n}): choose n of at least 4.")
    rng, items, seen = random.Random(seed), [], _builtin_prompts()
    facts = rng.sample(FACTS, min(len(FACTS), n // 4))
    items += [{"prompt": q + FEW_WORDS, "reference": r, "scorer": "contains", "category": "factual",
               "difficulty": d} for q, r, d in facts]
    kinds, made = list(GENERATORS), 0
    while len(items) < n:
        kind, difficulty = kinds[made % len(kinds)], 1 + (made // len(kinds)) % 3
        item = GENERATORS[kind](rng, difficulty)
        made += 1
        if item["prompt"] not in seen:
            seen.add(item["prompt"])
            items.append(item)
    for index, item in enumerate(items):
        item["id"] = f"dev-{item['category']}-{index}"
    return _normalise(items, origin=f"dev_set(seed={seed})")


def _builtin_prompts() -> set[str]:
    return {item["prompt"] for name in BUILTIN_FILES for item in load_builtin(name)}
