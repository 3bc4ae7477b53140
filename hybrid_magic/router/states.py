"""The `hidden_states` signal: a learned policy's hidden-state term, for live and replay alike.

A learned policy with a hidden-state term (the default router's, fitted on pooled prompts; one fitted by
experiments.learned.fit_policy, a correction with the default router as its prior) has a
`state_logit(vector)`; every other policy has none, and then no signal is made.
The vector is the prompt's state that the stream's first token carries
(`TokenEvent.prompt_state`, read by the backend during the prefill it ran anyway:
no extra model call), so live %%hybrid and replay of a recording read the same
thing. It is a during-signal, known from the first token on (cascade.stream_local reads
it there), so a policy weighs it in an early handoff as in the final decision. The
signal's value is that term, in log-odds of a right local answer; it
never requests a handoff by itself (the policy weighs it with the other signals).
When the tokens carry no state (llama.cpp, mlx, a served model) the signal is
unavailable and says why; the policy then decides on the signals alone.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

from ..types import PromptState, Signal, TokenEvent
from .policy import POLICIES
from .thresholds import term_signal

NAME = "hidden_states"
Vector = Sequence[float]


def state_term(policy: str) -> Callable[[Vector], float] | None:
    """The registered policy's hidden-state term (vector -> log-odds), None when it has none."""
    fn = POLICIES.get(policy)
    return fn.state_logit if getattr(fn, "reads_states", False) else None


def hidden_states(term: float | None, missing: str = "") -> Signal:
    return term_signal(NAME, "during", term, "The local model's hidden states", missing)


def prompt_state(tokens: Sequence[TokenEvent]) -> PromptState | None:
    """The prompt's hidden state the stream's first token carries, else None."""
    return next((t.prompt_state for t in tokens if t.prompt_state is not None), None)


def reads_state(state: PromptState | None, fitted_on: str | None) -> bool:
    """Whether a term fitted on the weights `fitted_on` (None: not known) reads this prompt state."""
    return state is not None and (fitted_on is None or state.model == fitted_on)


def state_hook(policy: str, missing: str) -> Callable[[Sequence[TokenEvent]], Signal] | None:
    """the local tokens -> the `hidden_states` signal, for a policy with hidden-state terms; None otherwise.
    `missing` says why when the tokens carry no prompt state (there are tokens: else none came). A state from
    other weights than the policy was fitted on (another model under --model) is not read: its term would be noise."""
    term = state_term(policy)
    if term is None:
        return None
    fitted_on = getattr(POLICIES[policy], "state_model", None)

    def read(tokens: Sequence[TokenEvent]) -> Signal:
        state = prompt_state(tokens)
        if state is None:
            return hidden_states(None, missing if tokens else "no token was generated to carry the prompt's state")
        if not reads_state(state, fitted_on):
            return hidden_states(None, f"this model's states ({state.model}) are not those the policy was "
                                       f"fitted on ({fitted_on})")
        return hidden_states(term(state.vector))
    return read
