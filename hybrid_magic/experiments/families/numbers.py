"""Number families: sequences, comparisons, parity, rounding, word problems, sorting, counting."""
from __future__ import annotations

import random

from ...router.number_words import in_words

NUMBER_ONLY = " Answer with the number only."

UNIT_FACTORS = [("kilometers", "meters", 1000), ("hours", "minutes", 60), ("dozens", "items", 12),
                ("weeks", "days", 7), ("liters", "milliliters", 1000), ("yards", "feet", 3),
                ("minutes", "seconds", 60), ("centuries", "years", 100)]
NAMES = ["Tom", "Ana", "Raj", "Mia", "Leo", "Sara", "Ivan", "Yuki"]
THINGS = ["apples", "pencils", "stamps", "marbles", "books", "coins"]


def next_in_sequence(rng: random.Random) -> dict:
    start, step, kind = rng.randint(1, 20), rng.randint(2, 9), rng.choice(["add", "add", "double"])
    terms = [start * 2 ** i for i in range(5)] if kind == "double" else [start + step * i for i in range(5)]
    shown = ", ".join(map(str, terms[:4]))
    return {"prompt": f"What number comes next in the sequence {shown}, ...?" + NUMBER_ONLY,
            "reference": terms[4], "scorer": "numeric"}


def compare_numbers(rng: random.Random) -> dict:
    a, b = rng.sample(range(10, 1000), 2)
    word = rng.choice(["larger", "smaller"])
    answer = max(a, b) if word == "larger" else min(a, b)
    return {"prompt": f"Which number is {word}: {a} or {b}? Answer with the number only.",
            "reference": str(answer), "scorer": "choice", "options": [str(a), str(b)]}


def parity(rng: random.Random) -> dict:
    n = rng.randint(3, 999)
    return {"prompt": f"Is {n} an even or an odd number? Answer with one word.",
            "reference": "even" if n % 2 == 0 else "odd", "scorer": "choice", "options": ["even", "odd"]}


def rounding(rng: random.Random) -> dict:
    n, unit = rng.randint(101, 9999), rng.choice([10, 100])
    value = (n + unit // 2) // unit * unit  # half up, as taught
    return {"prompt": f"Round {n} to the nearest {'ten' if unit == 10 else 'hundred'}." + NUMBER_ONLY,
            "reference": value, "scorer": "numeric"}


def word_problem(rng: random.Random) -> dict:
    name, thing = rng.choice(NAMES), rng.choice(THINGS)
    a, b = rng.randint(3, 40), rng.randint(2, 30)
    if rng.random() < 0.5:
        return {"prompt": f"{name} has {a} {thing} and gets {b} more. How many {thing} does {name} have now?"
                + NUMBER_ONLY, "reference": a + b, "scorer": "numeric"}
    a = a + b
    return {"prompt": f"{name} has {a} {thing} and gives away {b}. How many {thing} does {name} have left?"
            + NUMBER_ONLY, "reference": a - b, "scorer": "numeric"}


def unit_conversion(rng: random.Random) -> dict:
    big, small, factor = rng.choice(UNIT_FACTORS)
    n = rng.randint(2, 25)
    return {"prompt": f"How many {small} are in {n} {big}?" + NUMBER_ONLY, "reference": n * factor,
            "scorer": "numeric"}


def sort_numbers(rng: random.Random) -> dict:
    values = rng.sample(range(1, 100), rng.randint(3, 5))
    return {"prompt": f"Sort these numbers from smallest to largest: {', '.join(map(str, values))}. "
            "Answer with the sorted list only.", "reference": sorted(values), "scorer": "sequence"}


def largest_in_list(rng: random.Random) -> dict:
    values = rng.sample(range(1, 200), rng.randint(4, 6))
    return {"prompt": f"What is the largest number in this list: {', '.join(map(str, values))}?" + NUMBER_ONLY,
            "reference": max(values), "scorer": "numeric"}


def number_to_words(rng: random.Random) -> dict:
    n = rng.choice([rng.randint(13, 99), rng.randint(101, 999)])
    return {"prompt": f"Write the number {n} in English words.", "reference": in_words(n),
            "scorer": "contains"}


FAMILIES = {"next_in_sequence": next_in_sequence, "compare_numbers": compare_numbers, "parity": parity,
            "rounding": rounding, "word_problem": word_problem, "unit_conversion": unit_conversion,
            "sort_numbers": sort_numbers, "largest_in_list": largest_in_list, "number_to_words": number_to_words}
