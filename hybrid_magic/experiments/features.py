"""Extra confidence features computed from recorded tokens (research only, no model call).

The router's live signals are one view of the token logprobs; these are others,
measured over the whole local answer, so their AUROC for local errors can be
compared and the best proposed as router signals. Each feature has a risk
direction: +1 when a higher value means the answer is more likely wrong.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

Token = dict[str, Any]  # {"text", "logprob", "entropy", "top": [[text, logprob], ...], "t"}

# name -> risk direction (+1: high value = risky, -1: low value = risky)
FEATURE_DIRECTIONS: dict[str, int] = {
    "mean_logprob": -1,  # the naive baseline
    "min_prob": -1,
    "first_prob": -1,
    "first_answer_prob": -1,  # first token that carries a letter or digit
    "min_margin": -1,  # top-1 minus top-2 probability, at the least sure token
    "mean_margin": -1,
    "content_min_prob": -1,  # least likely content token after the first (openers are style, not facts)
    "lowest3_logprob": -1,  # mean logprob of the three least likely tokens
    "mean_entropy": +1,
    "max_entropy": +1,
    "length": +1,
    "hit_max_tokens": +1,
}


def scored_tokens(tokens: Sequence[Token]) -> list[Token]:
    return [t for t in tokens if t.get("logprob") is not None]


def _probs(tokens: Sequence[Token]) -> list[float]:
    return [math.exp(t["logprob"]) for t in tokens]


def _margin(token: Token) -> float:
    top = sorted((math.exp(lp) for _, lp in token.get("top") or ()), reverse=True)
    if len(top) < 2:
        return math.exp(token["logprob"])
    return top[0] - top[1]


def _first_answer_token(tokens: Sequence[Token]) -> Token | None:
    return next((t for t in tokens if any(ch.isalnum() for ch in t.get("text", ""))), None)


def _first_answer_prob(tokens: Sequence[Token]) -> float:
    token = _first_answer_token(tokens)
    return math.exp(token["logprob"]) if token else float("nan")


def _content_min_prob(tokens: Sequence[Token]) -> float:
    content = [t for t in tokens if any(ch.isalnum() for ch in t.get("text", ""))][1:]
    return min(_probs(content)) if content else float("nan")


def _lowest3_logprob(tokens: Sequence[Token]) -> float:
    lowest = sorted(t["logprob"] for t in tokens)[:3]
    return sum(lowest) / len(lowest) if lowest else float("nan")


def _nan_if_empty(fn: Callable[[list[Token]], float]) -> Callable[[list[Token]], float]:
    return lambda tokens: fn(tokens) if tokens else float("nan")


_FEATURES: dict[str, Callable[[list[Token]], float]] = {
    "mean_logprob": _nan_if_empty(lambda ts: sum(t["logprob"] for t in ts) / len(ts)),
    "min_prob": _nan_if_empty(lambda ts: min(_probs(ts))),
    "first_prob": _nan_if_empty(lambda ts: _probs(ts[:1])[0]),
    "first_answer_prob": _first_answer_prob,
    "min_margin": _nan_if_empty(lambda ts: min(_margin(t) for t in ts)),
    "mean_margin": _nan_if_empty(lambda ts: sum(_margin(t) for t in ts) / len(ts)),
    "content_min_prob": _content_min_prob,
    "lowest3_logprob": _lowest3_logprob,
    "mean_entropy": _nan_if_empty(lambda ts: sum(t.get("entropy") or 0.0 for t in ts) / len(ts)),
    "max_entropy": _nan_if_empty(lambda ts: max(t.get("entropy") or 0.0 for t in ts)),
    "length": lambda ts: float(len(ts)),
}


def token_features(tokens: Sequence[Token], finish_reason: str | None) -> dict[str, float]:
    """Every feature of FEATURE_DIRECTIONS for one recorded local answer."""
    scored = scored_tokens(tokens)
    values = {name: fn(scored) for name, fn in _FEATURES.items()}
    values["hit_max_tokens"] = float(finish_reason == "length")
    return values


def as_risk(name: str, value: float) -> float:
    """Orient a feature so that higher means more likely wrong."""
    return FEATURE_DIRECTIONS.get(name, 1) * value
