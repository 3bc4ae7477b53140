"""Scorers: (answer, reference) -> score in [0, 1]. Scores are computed from stored
answers when results are read, so changing the scorer never re-runs a model.

Named scorers live in SCORERS; `auto` picks each item's own `scorer` field (the
built-in sets set it), falling back to `contains`. Any callable
`fn(answer, reference) -> bool | float` works too, and `llm_judge(client)` asks a
CloudClient. `choice` and `option` read the item's `options`; every extractor
matches whole words (yes/no, an option, a letter, a number), never a raw substring.
"""
from __future__ import annotations

import json
import re
import string
from collections.abc import Callable
from typing import Any

from ..errors import UsageError
from ..router.answer_fit import said_yes_no
from ..router.number_words import last_spelled_number
from .datasets import CONTEXT, item_chat

ScoreFn = Callable[[str, Any], float]
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalise_text(text: str, keep_articles: bool = False) -> str:
    """Lower case, no punctuation, no articles (unless kept), single spaces."""
    text = str(text).lower().translate(str.maketrans("", "", string.punctuation))
    return " ".join((text if keep_articles else _ARTICLES.sub(" ", text)).split())


def exact(answer: str, reference: Any) -> float:
    return float(answer.strip() == str(reference).strip())


def normalised(answer: str, reference: Any) -> float:
    return float(normalise_text(answer) == normalise_text(reference))


def contains(answer: str, reference: Any) -> float:
    """The normalised reference appears as whole words in the normalised answer."""
    needle = normalise_text(reference)
    return float(bool(needle) and f" {needle} " in f" {normalise_text(answer)} ")


def extract_number(text: str, asked: str = "") -> float | None:
    """The last number in the text (answers often restate the question first); when the text has no digits, the
    last written in words ("Eight.", "forty-two") whose value the question `asked` does not spell out too (a
    restated "How many of the three ...?" states no answer)."""
    found = _NUMBER.findall(text)
    if not found:
        return last_spelled_number(text, unless_in=asked)
    try:
        return float(found[-1].replace(",", ""))
    except ValueError:
        return None


def numeric(answer: str, item: dict, tolerance: float = 1e-6, relative: float = 1e-4) -> float:
    value = extract_number(answer, str(item.get("prompt") or ""))
    if value is None:
        return 0.0
    target = float(item.get("reference"))
    return float(abs(value - target) <= max(tolerance, relative * abs(target)))


def numeric_scorer(tolerance: float = 1e-6, relative: float = 1e-4) -> Callable[[str, dict], float]:
    """A numeric scorer with its own tolerance (absolute, and relative to the reference)."""
    def score(answer: str, item: dict) -> float:
        return numeric(answer, item, tolerance, relative)
    score.takes_item = True
    return score


def regex(answer: str, reference: Any) -> float:
    """The reference is a regular expression that must match somewhere in the answer."""
    return float(re.search(str(reference), answer, flags=re.IGNORECASE | re.DOTALL) is not None)


def regex_scorer(pattern: str) -> ScoreFn:
    """A fixed pattern for every item (the reference is ignored)."""
    compiled = re.compile(pattern, flags=re.IGNORECASE | re.DOTALL)
    return lambda answer, reference: float(compiled.search(answer) is not None)


def json_equal(answer: str, reference: Any) -> float:
    """The first JSON value in the answer equals the reference (a value or its JSON text)."""
    expected = json.loads(reference) if isinstance(reference, str) else reference
    parsed = first_json_value(answer)
    return float(parsed is not None and parsed == expected)


def first_json_value(text: str) -> Any | None:
    decoder = json.JSONDecoder()
    for start, char in enumerate(text):
        if char in "{[":
            try:
                return decoder.raw_decode(text[start:])[0]
            except json.JSONDecodeError:
                continue
    return None


_OPTION_LETTER = re.compile(r"(?<![A-Za-z])([A-H])(?![A-Za-z'])")
_QUOTED_LETTER = re.compile(r"[\"'\u201c\u2018]([a-z])[\"'\u201d\u2019]")
_SINGLE_LETTER = re.compile(r"(?<![a-z'])([a-z])(?![a-z'])")


def yes_no(answer: str, reference: Any) -> float:
    """The first yes or no the answer says (router.answer_fit.said_yes_no) is the reference."""
    return float(said_yes_no(answer) == normalise_text(reference))


def option_words(options) -> Callable[[Any], str]:
    """How options and answers are compared: normalised, articles dropped unless they tell the options apart
    ("Plan A" or "Plan B"). A possessive is another word ("Viktor's excuse" does not name Viktor)."""
    plain = [normalise_text(o) for o in options]
    keep = len(set(plain)) < len(plain) or not all(plain)
    return lambda text: normalise_text(text, keep_articles=keep)


def first_option(text: str, options) -> str | None:
    """The option named first in the text (whole words, `option_words`); None when none is named, or when
    every one of several options is named (a restated question commits to nothing)."""
    words = option_words(options)
    padded = f" {words(text)} "
    found = [(padded.find(f" {words(o)} "), str(o)) for o in options if words(o)]
    named = [(at, option) for at, option in found if at >= 0]
    if not named or (len(named) == len(found) > 1):
        return None
    return min(named)[1]


def choice(answer: str, item: dict) -> float:
    """One of item["options"]: the option the answer names first must be the reference."""
    options = item.get("options") or [item.get("reference")]
    picked, words = first_option(answer, options), option_words(options)
    return float(picked is not None and words(picked) == words(item.get("reference")))


def option_letter(text: str, options: dict) -> str | None:
    """A lettered choice: the first standalone capital option letter, else the letter of the first option text."""
    for found in _OPTION_LETTER.finditer(str(text)):
        if found.group(1) in options:
            return found.group(1)
    picked = first_option(text, list(options.values()))
    return next((letter for letter, value in options.items() if value == picked), None)


def option(answer: str, item: dict) -> float:
    return float(option_letter(answer, item.get("options") or {}) == str(item.get("reference")))


def single_letter(text: str) -> str | None:
    """A one-letter answer: the whole answer, else a quoted letter, else the last lone letter
    (answers restate the question first: "The last letter of the word is e.")."""
    text = str(text).strip().lower()
    if len(text.rstrip(".")) == 1 and text[0].isalpha():
        return text[0]
    quoted = _QUOTED_LETTER.search(text)
    if quoted:
        return quoted.group(1)
    lone = _SINGLE_LETTER.findall(text)
    return lone[-1] if lone else None


def letter(answer: str, reference: Any) -> float:
    return float(single_letter(answer) == str(reference).strip().lower())


def sequence(answer: str, reference: Any) -> float:
    """The reference list appears in the answer in order, as consecutive words or numbers."""
    words, wanted = normalise_text(answer).split(), [normalise_text(v) for v in reference]
    return float(any(words[i:i + len(wanted)] == wanted for i in range(len(words) - len(wanted) + 1)))


def token(answer: str, reference: Any) -> float:
    """The reference (e.g. 7:30 or 18/10/2003) appears whole: not inside a longer number or word."""
    pattern = rf"(?<![\w/:.]){re.escape(str(reference).strip())}(?![\w/:]|\.\d)"
    return float(re.search(pattern, answer, flags=re.IGNORECASE) is not None)


choice.takes_item = option.takes_item = True  # they need the item's options, not only the reference
numeric.takes_item = True  # it reads the question, whose own spelled numbers are no answer

SCORERS: dict[str, ScoreFn] = {
    "exact": exact,
    "normalised": normalised,
    "contains": contains,
    "numeric": numeric,
    "regex": regex,
    "json": json_equal,
    "yesno": yes_no,
    "choice": choice,
    "option": option,
    "letter": letter,
    "sequence": sequence,
    "token": token,
}


def resolve_scorer(spec: str | Callable) -> Callable[[str, dict], float]:
    """A name, `auto`, or a callable (answer, reference) -> score, as fn(answer, item)."""
    if callable(spec) and getattr(spec, "takes_item", False):
        return spec
    if callable(spec):
        return lambda answer, item: _as_score(spec(answer, item.get("reference")))
    if spec == "auto":
        return lambda answer, item: _by_name_on_item(item.get("scorer", "contains"))(answer, item)
    return _by_name_on_item(spec)


def _by_name_on_item(name: str) -> Callable[[str, dict], float]:
    fn = _by_name(name)
    if getattr(fn, "takes_item", False):
        return fn
    return lambda answer, item: fn(answer, item.get("reference"))


def _by_name(name: str) -> ScoreFn:
    if name not in SCORERS:
        raise UsageError(f"Unknown scorer {name!r}: choose auto, {', '.join(SCORERS)}, or pass a callable.")
    return SCORERS[name]


def _as_score(value: Any) -> float:
    if value is None:
        return 0.0
    return float(min(max(float(value), 0.0), 1.0))


JUDGE_PROMPT = (
    "You grade answers. Question:\n{prompt}\n\nReference answer:\n{reference}\n\n"
    "Candidate answer:\n{answer}\n\nDoes the candidate answer agree with the reference? Reply YES or NO."
)


def _question_in_context(item: dict) -> str:
    """The prompt; an item with its own system prompt or earlier turns: its whole chat, one turn per line
    ("And its capital?" needs them)."""
    if not any(item.get(key) for key in CONTEXT):
        return str(item.get("prompt"))
    return "\n".join(f"{message['role']}: {message['content']}" for message in item_chat(item))


def llm_judge(client: Any, max_tokens: int = 4) -> Callable[[str, dict], float]:
    """Ask a CloudClient whether an answer agrees with the reference (1.0 for YES).

    Verdicts are remembered per (question, reference, answer), so reading results
    twice calls the judge once; an item with its own system prompt or earlier turns is judged with them.
    """
    from ..types import GenerationParams

    verdicts: dict[tuple[str, str, str], float] = {}
    params = GenerationParams(max_tokens=max_tokens, temperature=0.0)

    def judge(answer: str, item: dict) -> float:
        key = (_question_in_context(item), str(item.get("reference")), answer)
        if key not in verdicts:
            content = JUDGE_PROMPT.format(prompt=key[0], reference=key[1], answer=answer)
            reply = "".join(event.text for event in client.stream([{"role": "user", "content": content}], params))
            verdicts[key] = float(reply.strip().upper().startswith("YES"))
        return verdicts[key]

    judge.takes_item = True  # the judge needs the prompt, not only the reference
    return judge
