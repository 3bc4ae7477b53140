"""AutoMix-style self-verification: ask the local model whether its own answer is right.

The value is P("yes") / (P("yes") + P("no")) for the first answer token, read
from the top alternatives of one generated token, so it costs one prefill.
Many answers are checked in one batch (`probabilities_correct`) the same way.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from .types import GenerationParams, Message, TokenEvent

QUESTION = ("Question:\n{question}\n\nProposed answer:\n{answer}\n\n"
            "Is the proposed answer correct? Reply with yes or no.")
PARAMS = GenerationParams(max_tokens=1, temperature=0.0, top_alternatives=20)


def question(messages: list[Message], answer: str) -> list[Message]:
    """The one-turn chat that asks the model to judge `answer` to the last message."""
    return [{"role": "user", "content": QUESTION.format(question=messages[-1]["content"], answer=answer.strip())}]


def probability_from(events: Iterable[TokenEvent]) -> float | None:
    """P(yes) among yes/no in the first event that carries top alternatives; None when neither shows."""
    yes = no = 0.0
    for event in events:
        for text, logprob in event.top_logprobs:
            word = text.strip().lower()
            if word.startswith("yes"):
                yes += math.exp(logprob)
            elif word.startswith("no"):
                no += math.exp(logprob)
        if event.top_logprobs:
            break
    return None if yes + no == 0 else yes / (yes + no)


def probability_correct(backend, messages: list[Message], answer: str) -> float | None:
    return probability_from(backend.stream(question(messages, answer), PARAMS))


def probabilities_correct(backend, checks: Sequence[tuple[list[Message], str]],
                          batch_size: int) -> list[float | None]:
    """`probability_correct` for many (messages, answer) pairs, `batch_size` per forward pass."""
    found: list[float | None] = [None] * len(checks)
    asks = [question(messages, answer) for messages, answer in checks]
    for row in backend.generate_batch(asks, PARAMS, batch_size=batch_size):
        found[row.index] = probability_from(row.events)
    return found
