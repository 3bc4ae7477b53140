"""The hand-written sets in benchmarks/heldout/ score what they claim: each item's right answer scores right, its prompt restated alone scores wrong (a model that only repeats
the question gets nothing), also when the prompt ends in its format instruction (experiments.instructed), and each set
has 12 families of 12 items with unique ids."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from hybrid_magic.experiments.datasets import load_dataset
from hybrid_magic.experiments.instructions import instructed
from hybrid_magic.experiments.scorers import resolve_scorer

HELDOUT = Path(__file__).parents[1] / "benchmarks" / "heldout"
SETS = sorted(HELDOUT.glob("*.jsonl"))
score = resolve_scorer("auto")


def test_there_are_180_sets_with_no_family_written_twice():
    prefixes = ["", "z", "zz", "zzz", "zzzz", "zzzzz"]  # a-z, then za-zz, ... zzzzza-zzzzzz: the first 156 sets
    lettered = [f"everyday_{prefix}{letter}" for prefix in prefixes for letter in "abcdefghijklmnopqrstuvwxyz"]
    numbered = [f"everyday_{number}" for number in range(157, 181)]  # from the 157th on, numbered
    assert sorted(path.stem for path in SETS) == sorted(lettered + numbered)
    families = [family for path in SETS for family in {item["family"] for item in load_dataset(path)}]
    assert len(families) == len(set(families)) == 180 * 12, "each writer avoided every earlier family name"


@pytest.mark.parametrize("path", SETS, ids=lambda path: path.stem)
def test_each_set_scores_its_right_answers_right_and_the_restated_prompt_wrong(path):
    items = load_dataset(path)  # unique ids, a prompt each, or a UsageError
    assert sorted(Counter(item["family"] for item in items).values()) == [12] * 12
    for item in items:
        right = item.get("example", str(item["reference"]))
        assert score(right, item) == 1.0, (item["id"], right)
        assert score(item["prompt"], item) == 0.0, item["id"]
        assert score("I am not sure.", item) == 0.0, item["id"]


@pytest.mark.parametrize("path", SETS, ids=lambda path: path.stem)
def test_each_set_asked_as_a_benchmark_asks_still_scores_the_restated_prompt_wrong(path):
    """bench_routing.py --set --instruct: each prompt ends in its format instruction ("Answer yes or no."), which a
    restated prompt repeats; repeating it answers nothing."""
    for item in instructed(load_dataset(path)):
        assert score(item.get("example", str(item["reference"])), item) == 1.0, item["id"]
        assert score(item["prompt"], item) == 0.0, item["id"]
