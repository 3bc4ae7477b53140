"""The development corpus: seeded generation, answers checked by code, and the extractors that score it."""
from __future__ import annotations

import pytest

from hybrid_magic.errors import UsageError
from hybrid_magic.experiments.corpus import corpus, leave_family_out
from hybrid_magic.experiments.families import FAMILIES
from hybrid_magic.experiments.scorers import resolve_scorer
from hybrid_magic.router.number_words import in_words, last_spelled_number

AUTO = resolve_scorer("auto")


def spoken(reference) -> str:
    return ", ".join(map(str, reference)) if isinstance(reference, list) else str(reference)


def test_corpus_is_seeded_large_and_spans_many_families():
    items = corpus(80)
    assert len(FAMILIES) >= 20 and len(items) == 80 * len(FAMILIES) >= 2000
    assert corpus(80) == items and corpus(80, seed=1) != items
    assert corpus(10) == [i for i in items if int(i["id"].rsplit("-", 1)[1]) < 10]  # a prefix per family
    assert len({i["prompt"] for i in items}) == len(items)
    assert all(i["category"] == i["family"] and i["scorer"] for i in items)


def test_every_reference_is_accepted_by_its_own_scorer_plain_and_restated():
    for item in corpus(40):
        said = spoken(item["reference"])
        assert AUTO(said, item) == 1.0 and AUTO(f"The answer is {said}.", item) == 1.0, item


@pytest.mark.parametrize("family, fields, check", [
    ("letter_count", r'letter "(\w)" appear in the word "(\w+)"', lambda m, ref: m[1].count(m[0]) == ref),
    ("word_reverse", r'word "(\w+)" backwards', lambda m, ref: m[0][::-1] == ref),
    ("word_length", r'in the word "(\w+)"', lambda m, ref: len(m[0]) == ref),
    ("last_letter", r'of the word "(\w+)"', lambda m, ref: m[0][-1] == ref),
    ("rounding", r"Round (\d+) to the nearest (ten|hundred)",
     lambda m, ref: ref % {"ten": 10, "hundred": 100}[m[1]] == 0 and abs(ref - int(m[0])) <= {"ten": 5, "hundred": 50}[m[1]]),
    ("sort_numbers", r"largest: ([\d, ]+)\.", lambda m, ref: ref == sorted(int(x) for x in m[0].split(","))),
])
def test_references_are_recomputed_from_the_prompt(family, fields, check):
    import re

    for item in corpus(30, families=[family]):
        found = re.search(fields, item["prompt"])
        assert found and check(found.groups(), item["reference"]), item


def test_number_words_both_ways():
    assert [in_words(n) for n in (7, 13, 40, 47, 100, 315)] == [
        "seven", "thirteen", "forty", "forty-seven", "one hundred", "three hundred and fifteen"]
    assert all(last_spelled_number(f"It is {in_words(n)}.") == n for n in range(1000))
    read = {text: last_spelled_number(text) for text in (
        "a dozen eggs", "two dozen", "three thousand two hundred", "a hundred", "half", "one of them", "the one on the left", "the only one left", "There is only one.",
        "five five", "three, four", "nineteen eighty-four", "none", "a cat")}
    assert read == {"a dozen eggs": 12, "two dozen": 24, "three thousand two hundred": 3200, "a hundred": 100,
                    "half": 0.5, "one of them": None, "the one on the left": None, "the only one left": None,
                    "There is only one.": 1, "five five": 5, "three, four": 4,
                    "nineteen eighty-four": 84, "none": None, "a cat": None}


@pytest.mark.parametrize("scorer, answer, item, expected", [
    ("yesno", "No, they are not.", {"reference": "no"}, 1.0),
    ("yesno", "Yes.", {"reference": "no"}, 0.0),
    ("yesno", "I know the answer: no", {"reference": "no"}, 1.0),  # "know" holds no whole-word "no"
    ("yesno", "Nobody knows", {"reference": "no"}, 0.0),
    ("yesno", "Yes or no: dogs swim.", {"reference": "yes"}, 0.0),  # the instruction restated says neither
    ("yesno", "Yes or no? No, they sink.", {"reference": "no"}, 1.0),
    ("choice", "74 is the larger number.", {"reference": "74", "options": ["47", "74"]}, 1.0),
    ("choice", "the GCD of 74 and 47", {"reference": "74", "options": ["47", "74"]}, 0.0),  # restated: no choice
    ("choice", "747", {"reference": "74", "options": ["47", "74"]}, 0.0),
    ("choice", "It will be Friday.", {"reference": "Friday", "options": ["Thursday", "Friday"]}, 1.0),
    ("choice", "Thursday or Friday", {"reference": "Friday", "options": ["Thursday", "Friday"]}, 0.0),
    ("choice", "odd", {"reference": "odd", "options": ["even", "odd"]}, 1.0),
    ("option", "B) Paris", {"reference": "B", "options": {"A": "Rome", "B": "Paris"}}, 1.0),
    ("option", "The answer is (A).", {"reference": "B", "options": {"A": "Rome", "B": "Paris"}}, 0.0),
    ("option", "Paris", {"reference": "B", "options": {"A": "Rome", "B": "Paris"}}, 1.0),
    ("option", "Because Paris", {"reference": "B", "options": {"A": "Rome", "B": "Paris"}}, 1.0),
    ("letter", "e", {"reference": "e"}, 1.0),
    ("letter", "The last letter of the word is 'e'.", {"reference": "e"}, 1.0),
    ("letter", "The last letter is a.", {"reference": "a"}, 1.0),
    ("letter", "The letter is t", {"reference": "e"}, 0.0),
    ("sequence", "2, 5, 9", {"reference": [2, 5, 9]}, 1.0),
    ("sequence", "5, 2, 9 sorted: 2, 5, 9", {"reference": [2, 5, 9]}, 1.0),
    ("sequence", "2, 9, 5", {"reference": [2, 5, 9]}, 0.0),
    ("sequence", "12, 5, 9", {"reference": [2, 5, 9]}, 0.0),
    ("token", "It is 7:30.", {"reference": "7:30"}, 1.0),
    ("token", "17:30", {"reference": "7:30"}, 0.0),
    ("token", "7:300", {"reference": "7:30"}, 0.0),
    ("token", "18/10/2003", {"reference": "18/10/2003"}, 1.0),
    ("token", "18/10/20031", {"reference": "18/10/2003"}, 0.0),
    ("numeric", "Eight.", {"reference": 8}, 1.0),  # words when the answer has no digits
    ("numeric", "It has forty-seven legs", {"reference": 47}, 1.0),
    ("numeric", "two and a half hours", {"reference": 2.5}, 1.0),
    ("numeric", "It is 12, not eleven", {"reference": 11}, 0.0),  # digits first
    ("numeric", "No one knows", {"reference": 1}, 0.0),  # a pronoun, not a number
    ("numeric", "Absolute zero is how many kelvin?", {"reference": 0, "prompt": "Absolute zero is how many kelvin?"},
     0.0),  # restated: a number the question spells out too is no answer
    ("numeric", "Four.", {"reference": 4, "prompt": "What is two plus two?"}, 1.0),
    ("choice", "Elena doubts Viktor's excuse.", {"reference": "Elena", "options": ["Elena", "Viktor"]}, 1.0),
    ("choice", "Plan B", {"reference": "Plan A", "options": ["Plan A", "Plan B"]}, 0.0),  # "A" is no article here
    ("choice", "Plan A is cheaper.", {"reference": "Plan A", "options": ["Plan A", "Plan B"]}, 1.0),
    ("choice", "The Nile.", {"reference": "Nile", "options": ["Nile", "Amazon"]}, 1.0),
    ("option", "Plan B", {"reference": "A", "options": {"A": "plan a", "B": "plan b"}}, 0.0),
    ("contains", "forty-seven", {"reference": "forty-seven"}, 1.0),
    ("contains", "tenalpa", {"reference": "tenalp"}, 0.0),
])
def test_extractors_match_whole_words_not_substrings(scorer, answer, item, expected):
    assert resolve_scorer(scorer)(answer, item) == expected
    assert AUTO(answer, {**item, "scorer": scorer}) == expected


def test_leave_family_out_holds_each_family_out_once():
    items = corpus(3, families=["parity", "antonym", "syllogism"])
    folds = leave_family_out(items)
    assert [name for name, _, _ in folds] == ["antonym", "parity", "syllogism"]
    for name, train, test in folds:
        assert {i["family"] for i in test} == {name} and name not in {i["family"] for i in train}
        assert len(train) + len(test) == len(items)


def test_corpus_rejects_unknown_families_and_too_many_items():
    with pytest.raises(UsageError, match="unknown: nope"):
        corpus(5, families=["nope"])
    with pytest.raises(UsageError, match="fewer than"):
        corpus(500, families=["boolean_logic"])
