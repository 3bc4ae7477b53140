"""Scorers: (answer, reference) -> score in [0, 1]. Scores are computed from stored
answers when results are read, so changing the scorer never re-runs a model.

Named scorers live in SCORERS; `auto` picks each item's own `scorer` field (the
built-in sets set it), falling back to `contains`. Any callable
`fn(answer, reference) -> bool | float` works too, and `llm_judge(client)` asks a
CloudClient.
"""
from __future__ import annotations

import json
import re
import string
from collections.abc import Callable
from typing import Any

from ..errors import UsageError

ScoreFn = Callable[[str, Any], float]
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalise_text(text: str) -> str:
    """Lower case, no punctuation, no articles, single spaces."""
    text = str(text).lower().translate(str.maketrans("", "", string.punctuation))
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact(answer: str, reference: Any) -> float:
    return float(answer.strip() == str(reference).strip())


def normalised(answer: str, reference: Any) -> float:
    return float(normalise_text(answer) == normalise_text(reference))


def contains(answer: str, reference: Any) -> float:
    """The normalised reference appears as whole words in the normalised answer."""
    needle = normalise_text(reference)
    return float(bool(needle) and f" {needle} " in f" {normalise_text(answer)} ")


def extract_number(text: str) -> float | None:
    """The last number in the text (answers often restate the question first)."""
    found = _NUMBER.findall(text)
    if not found:
        return None
    try:
        return float(found[-1].replace(",", ""))
    except ValueError:
        return None


def numeric(answer: str, reference: Any, tolerance: float = 1e-6, relative: float = 1e-4) -> float:
    value = extract_number(answer)
    if value is None:
        return 0.0
    target = float(reference)
    return float(abs(value - target) <= max(tolerance, relative * abs(target)))


def numeric_scorer(tolerance: float = 1e-6, relative: float = 1e-4) -> ScoreFn:
    """A numeric scorer with its own tolerance (absolute, and relative to the reference)."""
    return lambda answer, reference: numeric(answer, reference, tolerance, relative)


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


SCORERS: dict[str, ScoreFn] = {
    "exact": exact,
    "normalised": normalised,
    "contains": contains,
    "numeric": numeric,
    "regex": regex,
    "json": json_equal,
}


def resolve_scorer(spec: str | Callable) -> Callable[[str, dict], float]:
    """A name, `auto`, or a callable (answer, reference) -> score, as fn(answer, item)."""
    if callable(spec) and getattr(spec, "takes_item", False):
        return spec
    if callable(spec):
        return lambda answer, item: _as_score(spec(answer, item.get("reference")))
    if spec == "auto":
        return lambda answer, item: _by_name(item.get("scorer", "contains"))(answer, item.get("reference"))
    fn = _by_name(spec)
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


def llm_judge(client: Any, max_tokens: int = 4) -> Callable[[str, dict], float]:
    """Ask a CloudClient whether an answer agrees with the reference (1.0 for YES).

    Verdicts are remembered per (prompt, reference, answer), so reading results
    twice calls the judge once.
    """
    from ..types import GenerationParams

    verdicts: dict[tuple[str, str, str], float] = {}
    params = GenerationParams(max_tokens=max_tokens, temperature=0.0)

    def judge(answer: str, item: dict) -> float:
        key = (str(item.get("prompt")), str(item.get("reference")), answer)
        if key not in verdicts:
            content = JUDGE_PROMPT.format(prompt=key[0], reference=key[1], answer=answer)
            reply = "".join(event.text for event in client.stream([{"role": "user", "content": content}], params))
            verdicts[key] = float(reply.strip().upper().startswith("YES"))
        return verdicts[key]

    judge.takes_item = True  # the judge needs the prompt, not only the reference
    return judge
