"""The after-stage `hidden_states` signal: a learned policy's hidden-state term, for live and replay alike.

A policy fitted on the local model's hidden states (experiments.learned) has a
`state_logit(vector)`; every other policy has none, and then no state is read at
all (the default path costs nothing extra). The signal's value is that term, in
log-odds of a right local answer; it never requests a handoff by itself (the
policy weighs it with the other signals). When the backend exposes no hidden
states the signal is unavailable and says why; the policy then decides on the
signals alone.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

from ..types import Signal
from .policy import POLICIES

NAME = "hidden_states"
Vector = Sequence[float]


def state_term(policy: str) -> Callable[[Vector], float] | None:
    """The registered policy's hidden-state term (vector -> log-odds), None when it has none."""
    fn = POLICIES.get(policy)
    return fn.state_logit if getattr(fn, "reads_states", False) else None


def hidden_states(term: float | None, missing: str = "") -> Signal:
    if term is None:
        return Signal(NAME, "after", None, None, False,
                      f"unavailable: {missing}; the learned policy decided on the signals alone.", available=False)
    direction = "towards keeping" if term >= 0 else "towards a handoff"
    return Signal(NAME, "after", term, None, False,
                  f"The local model's hidden states move the log-odds of a right answer by {term:+.2f} "
                  f"({direction}).")


def state_hook(policy: str, vector: Callable[[str], Vector] | None,
               missing: str) -> Callable[[str], Signal] | None:
    """answer text -> the `hidden_states` signal, for a policy with hidden-state terms; None otherwise.
    `vector` reads the state of prompt + answer (None: this backend or record has none, `missing` says why)."""
    term = state_term(policy)
    if term is None:
        return None
    if vector is None:
        return lambda _answer: hidden_states(None, missing)
    return lambda answer: hidden_states(term(vector(answer)))
