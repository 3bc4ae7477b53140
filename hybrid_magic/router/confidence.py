"""Zero-shot answer confidence: how sure the local model was of the answer it gave, from its own tokens.

Two features of the whole answer, standardised and averaged with equal weights (WEIGHTS) into
an estimated probability that the answer is right: the mean log-probability of its three least
likely tokens and the smallest top-1 minus top-2 probability margin. They were chosen
leave-family-out on the development corpus (experiments.corpus), recorded both with and without
the handoff instruction in the prompt; the centres and scales (measured on the whole corpus
recorded with it) put the two on one footing, and the bias sets the default cut. Without the
instruction (the default prompt now), centres and scales refitted on the other families each time
rank mixes of unseen families exactly as well as these fixed ones (AUROC 0.695 both). The answer-span
features (the first sentence after a preamble such as "The answer is") and `binary_answer`
(a yes/no or true/false answer) are measured for research (benchmarks/bench_routing.py
--candidates) but did not carry over better to mixes of unseen families.
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence

from ..types import Signal, TokenEvent

# a preamble ends with one of these; the answer starts after the last one in the first clause
_PREAMBLE_END = re.compile(r"(?:\b(?:is|are|was|be|equals|answer|result)\b|[:=])\s*$", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?]\s*$")
_CLAUSE_END = re.compile(r"\w[^\w]*[.,!?;]")
_BINARY = re.compile(r"^\W*(?:yes|no|true|false)\b", re.IGNORECASE)
LOWEST = 3  # least likely tokens averaged by lowest_logprob (whole answer) and span_lowest_logprob


def answer_span(tokens: Sequence[TokenEvent]) -> list[TokenEvent]:
    """The generated tokens of the first sentence (or line), after the last preamble marker of its first clause."""
    line: list[TokenEvent] = []
    for token in _scored(tokens):
        started = any(ch.isalnum() for ch in "".join(t.text for t in line))
        if started and ("\n" in token.text or _SENTENCE_END.search(line[-1].text)):
            break
        line.append(token)
    text, start = "", 0
    for index, token in enumerate(line):
        if _CLAUSE_END.search(text):  # "No, they are not": a preamble never follows the first clause
            break
        text += token.text
        if _PREAMBLE_END.search(text) and index + 1 < len(line):
            start = index + 1
    span = [t for t in line[start:] if any(ch.isalnum() for ch in t.text)]
    return span or line


def _scored(tokens: Sequence[TokenEvent]) -> list[TokenEvent]:
    """The generated tokens that carry a logprob."""
    return [t for t in tokens if t.is_generated and t.logprob is not None]


def _margin(token: TokenEvent) -> float:
    top = sorted((math.exp(lp) for _, lp in token.top_logprobs), reverse=True)
    return top[0] - top[1] if len(top) >= 2 else math.exp(token.logprob)


def _lowest_mean(logprobs: Sequence[float]) -> float:
    lowest = sorted(logprobs)[:LOWEST]
    return sum(lowest) / len(lowest)


def answer_features(tokens: Sequence[TokenEvent]) -> dict[str, float]:
    """Features of the answer span and of the whole answer; an empty dict when no token has a logprob."""
    span, scored = answer_span(tokens), _scored(tokens)
    if not span:
        return {}
    logprobs, whole = [t.logprob for t in span], [t.logprob for t in scored]
    return {
        "span_first_logprob": logprobs[0],
        "span_mean_logprob": sum(logprobs) / len(logprobs),
        "span_lowest_logprob": _lowest_mean(logprobs),
        "span_mean_entropy": sum(t.entropy or 0.0 for t in span) / len(span),
        "span_first_margin": _margin(span[0]),
        "span_tokens": float(len(span)),
        "mean_logprob": sum(whole) / len(whole),
        "lowest_logprob": _lowest_mean(whole),
        "min_margin": min(_margin(t) for t in scored),
        "tokens": float(len(scored)),
        "hit_limit": float(any(t.finish_reason == "length" for t in tokens)),
        "binary_answer": float(bool(_BINARY.match("".join(t.text for t in span)))),
    }


# Chosen leave-family-out on experiments.corpus (benchmarks/bench_routing.py reproduces the figures):
# feature -> (centre, scale, weight on the standardised value); positive weight = more likely right.
# Centres and scales: corpus(24) with the handoff instruction, 672 items, SmolLM2-135M, greedy, 24
# tokens; the weight is half of the logistic slope of the averaged value on that corpus (so the
# estimate is roughly calibrated).
WEIGHTS: dict[str, tuple[float, float, float]] = {
    "lowest_logprob": (-1.272, 0.517, 0.192),
    "min_margin": (0.076, 0.101, 0.192),
}
BIAS = 0.0  # the default cut (0.5): see docs/routing_study.md (handoff rate on the corpus vs its local error rate)


def answer_estimate(tokens: Sequence[TokenEvent]) -> float | None:
    """Estimated probability that the answer is right, from its own tokens; None without logprobs."""
    features = answer_features(tokens)
    return _estimate(features) if features else None


def _estimate(features: dict[str, float]) -> float:
    z = BIAS + sum(w * (features[name] - centre) / scale for name, (centre, scale, w) in WEIGHTS.items())
    return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


def estimate_signal(tokens: Sequence[TokenEvent], threshold: float) -> Signal:
    """after-signal `answer_estimate`: hand off when the estimated probability of a right answer is below
    `threshold` (the confidence knob, Thresholds.low_confidence)."""
    features = answer_features(tokens)  # once: the estimate and the message both read them
    if not features:
        return Signal("answer_estimate", "after", None, threshold, False,
                      "unavailable: the local answer has no tokens with logprobs.", available=False)
    value = _estimate(features)
    low = value < threshold
    message = (f"From its own tokens, the local answer is right with an estimated probability of {value:.2f}, "
               f"{'below' if low else 'at or above'} {threshold:.2f} (least likely tokens "
               f"{math.exp(features['lowest_logprob']):.2f}, smallest top-two margin {features['min_margin']:.2f}).")
    return Signal("answer_estimate", "after", value, threshold, low, message)
