"""Numbers written in English words, both ways: one vocabulary for the answer's fit (does the answer state a
number at all, `answer_fit.missed_number`), the numeric scorer (which number: "Eight." is 8) and the corpus
(n -> "forty-seven").
"""
from __future__ import annotations

import re

ONES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
        "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
SCALES = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
MULTIPLES = {"dozen": 12}
HALF = "half"
WORDS = (*ONES, *TENS[2:], *SCALES, *MULTIPLES, HALF)  # every word that states a number

_VALUES = {word: n for n, word in enumerate(ONES)} | {word: 10 * n for n, word in enumerate(TENS) if word}
_TOKEN = re.compile(r"[a-z]+|[^a-z\s-]")  # words; any other mark but a hyphen ends a number ("three, four")


def in_words(n: int) -> str:
    """0..999 in English words, hyphenated tens (forty-seven)."""
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else "-" + ONES[n % 10])
    rest = n % 100
    return ONES[n // 100] + " hundred" + ("" if rest == 0 else " and " + in_words(rest))


def last_spelled_number(text: str, unless_in: str = "") -> float | None:
    """The value of the last number written in words ("forty-seven", "a dozen", "one hundred and five",
    "two and a half"), None when there is none; a value `unless_in` spells out too is passed over. Two units in
    a row are two numbers ("five five"), and so is a year read in pairs ("nineteen eighty-four" ends with 84):
    the value is never made up from unrelated words."""
    taken = set(spelled_numbers(unless_in)) if unless_in else set()
    return next((value for value in reversed(spelled_numbers(text)) if value not in taken), None)


def spelled_numbers(text: str) -> list[float]:
    """Every number written in words in the text, in order."""
    tokens = _TOKEN.findall(str(text).lower())
    found: list[float] = []
    i = 0
    while i < len(tokens):
        value, i = _read_number(tokens, i)
        if value is not None:
            found.append(value)
        else:
            i += 1
    return found


def _read_number(tokens: list[str], i: int) -> tuple[float | None, int]:
    """The number written from tokens[i] on and the index after it; (None, i) when none starts there."""
    words: list[str] = []
    j = i
    if tokens[j] == "a" and j + 1 < len(tokens) and tokens[j + 1] in (*SCALES, *MULTIPLES, HALF):
        words.append("one")  # "a hundred", "a dozen", "a half"
        j += 1
    while j < len(tokens) and (_continues(words, tokens[j]) or _and_continues(words, tokens, j)):
        if tokens[j] == "and":
            j += 1
        words.append(tokens[j])
        j += 1
    if not words or (words == ["one"] and _pronoun(tokens, i, j)):
        return None, i
    value = _value(words)
    if tokens[j:j + 3] == ["and", "a", HALF] and words[-1] != HALF:
        return value + 0.5, j + 3
    return value, j


_BEFORE_PRONOUN_ONE = frozenset({"no", "the", "this", "that", "which", "any", "every", "each", "some", "little"})


def _pronoun(tokens: list[str], start: int, end: int) -> bool:
    """ "no one knows", "the only one left", "one of them": a lone 'one' after a determiner (up to one word
    between) or before 'of' names no number; "there is only one" still does."""
    return bool(_BEFORE_PRONOUN_ONE.intersection(tokens[max(start - 2, 0):start])) or tokens[end:end + 1] == ["of"]


def _continues(words: list[str], word: str) -> bool:
    if word not in WORDS:
        return False
    if not words:
        return True
    last = words[-1]
    if last == HALF or word == HALF:
        return word == HALF and last == "one"  # "a half" only
    if word in _VALUES:  # a unit or a ten follows only a ten ("forty-seven") or a scale ("hundred and five")
        return (last in TENS and 0 < _VALUES[word] < 10) or last in SCALES
    return True  # a scale or a multiple follows any number


def _and_continues(words: list[str], tokens: list[str], j: int) -> bool:
    """ "one hundred and five": 'and' joins only after a scale, into a unit or a ten."""
    return (tokens[j] == "and" and bool(words) and words[-1] in SCALES and j + 1 < len(tokens)
            and tokens[j + 1] in _VALUES)


def _value(words: list[str]) -> float:
    if words == ["one", HALF] or words == [HALF]:
        return 0.5
    total, current = 0, 0
    for word in words:
        if word in _VALUES:
            current += _VALUES[word]
        elif word in MULTIPLES:
            current = max(current, 1) * MULTIPLES[word]
        elif SCALES[word] == 100:
            current = max(current, 1) * 100
        else:
            total += max(current, 1) * SCALES[word]
            current = 0
    return float(total + current)
