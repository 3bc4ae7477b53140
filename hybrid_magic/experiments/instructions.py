"""A set asked as benchmarks ask it: each prompt ends in the format instruction for its scorer ("Answer yes or no.").

Users type bare questions; benchmarks and the development corpus (experiments.corpus) add an instruction, and the
local model answers the two differently: asked "Can a dog swim?" SmolLM2-135M opens with a preamble, asked "Can a
dog swim? Answer yes or no." it says "No." (benchmarks/heldout/log.md). `instructed(items)` gives the second form
of any set, item by item with the same ids, so one set is measured both ways (bench_routing.py --set --instruct).
"""
from __future__ import annotations

import re

from .datasets import Item
from .scorers import resolve_scorer

# by the item's scorer; any other scorer (an open answer) takes the first of OPEN that its own scorer does not accept
# on its own ("Finish the saying: actions speak louder than ..." is not asked "Answer in a few words.")
INSTRUCTIONS = {"yesno": "Answer yes or no.", "numeric": "Answer with the number only.",
                "choice": "Answer with your choice only."}
OPEN = ("Answer in a few words.", "Answer briefly.")
_ASKS_FORMAT = re.compile(r"\banswer (?:with|in)\b|\byes or no\b|\bone word\b|\bjust the\b|\bonly the\b"
                          r"|\breply with\b|\bonly\.\s*$", re.IGNORECASE)
_score = resolve_scorer("auto")


def instruction(item: Item) -> str:
    """The format instruction for the item's scorer."""
    if item.get("scorer") in INSTRUCTIONS:
        return INSTRUCTIONS[item["scorer"]]
    return next((said for said in OPEN if not _score(said, item)), OPEN[-1])


def instructed(items: list[Item]) -> list[Item]:
    """Copies of the items, each prompt that asks for no format yet ending in its `instruction`; ids are kept."""
    return [item if _ASKS_FORMAT.search(str(item["prompt"])) else
            {**item, "prompt": f"{str(item['prompt']).rstrip()} {instruction(item)}"} for item in items]
