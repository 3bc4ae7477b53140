"""The `answer_features` signal: a learned policy's term over the answer's own token features.

A learned policy (the default router, or one experiments.learned fitted) weighs the twelve features of
`router.confidence.answer_features` (the answer span's and the whole answer's least likely
tokens, margins, entropy, length, ...) as one term, in log-odds of a right local answer:
`answer_logit(features)`. Every other policy has none, and then no signal is made. The
features come from the tokens already generated (no model call), so live %%hybrid and
replay of a recording read the same thing. Like `hidden_states`, the signal never
requests a handoff by itself: the policy weighs it with the other signals.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

from ..types import Signal, TokenEvent
from .confidence import answer_features
from .policy import POLICIES
from .thresholds import term_signal

NAME = "answer_features"


def answer_signal(term: float | None) -> Signal:
    return term_signal(NAME, "after", term, "The answer's own token features", "the local answer has no tokens with "
                       "logprobs")


def answer_hook(policy: str) -> Callable[[Sequence[TokenEvent]], Signal] | None:
    """the local tokens -> the `answer_features` signal, for a policy with an answer-feature term; None otherwise."""
    fn = POLICIES.get(policy)
    if not getattr(fn, "reads_answer", False):
        return None

    def read(tokens: Sequence[TokenEvent]) -> Signal:
        features = answer_features(tokens)
        return answer_signal(fn.answer_logit(features) if features else None)
    return read
