"""AutoMix-style self-verification: ask the local model whether its own answer is right.

The value is P("yes") / (P("yes") + P("no")) for the first answer token, read
from the top alternatives of one generated token, so it costs one prefill.
"""
from __future__ import annotations

import math

from .types import GenerationParams, Message

QUESTION = ("Question:\n{question}\n\nProposed answer:\n{answer}\n\n"
            "Is the proposed answer correct? Reply with yes or no.")


def probability_correct(backend, messages: list[Message], answer: str) -> float | None:
    question = messages[-1]["content"]
    ask = [{"role": "user", "content": QUESTION.format(question=question, answer=answer.strip())}]
    params = GenerationParams(max_tokens=1, temperature=0.0, top_alternatives=20)
    yes = no = 0.0
    for event in backend.stream(ask, params):
        for text, logprob in event.top_logprobs:
            word = text.strip().lower()
            if word.startswith("yes"):
                yes += math.exp(logprob)
            elif word.startswith("no"):
                no += math.exp(logprob)
        if event.top_logprobs:
            break
    return None if yes + no == 0 else yes / (yes + no)
