"""The prompt side of the cascade: what the local model is sent, and the before-signals of exactly that.

`prepare` lays out what every caller sends (system, the handoff instruction or tool, history),
counting what is sent once: that count (`PromptFacts.prompt_tokens`) is what the context check,
the cost estimate, the fit of max_tokens and the cell's stats read. The user's prompt is also
counted alone (`question_tokens`): `prompt_length` reports that, and the question's form
(`signals.question_form`) reads its words alone (`question`), so a system prompt, a chat's history or
the handoff offer do not move the default router (fitted on prompts sent alone). No
model, no cloud is needed to replay the before-signals from the facts.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from .model_handoff import Offer
from .router import policy as policies
from .router import signals as sig
from .types import Message, Signal


@dataclass(frozen=True)
class Budget:
    """The session's cloud spend, this call's estimated cost and the limit (0 = none)."""

    spent_usd: float
    estimate_usd: float | None
    limit_usd: float


@dataclass(frozen=True)
class PromptFacts:
    """Everything the before-signals read: no model, no cloud needed to replay them."""

    text: str  # the user's messages, joined: the privacy check reads them
    prompt_tokens: int  # of what the local model is sent
    max_tokens: int
    context_budget: int  # tokens the local side may use; 0 = unknown
    private: bool = False
    force_cloud: bool = False
    allow_sensitive: bool = False
    detect_pii: bool = False
    budget: Budget | None = None  # None: no cloud client (see cloud_problem) or --private
    cloud_problem: str | None = None  # why no cloud client could be made
    # the user's prompt alone as the chat template lays it out (no system prompt, history or handoff offer): what
    # prompt_length reports, as the default router was fitted on it; None (older recordings): prompt_tokens
    question_tokens: int | None = None
    question: str | None = None  # the user's prompt alone (question_of): its form's signals read it; None: `text`

    @property
    def asked(self) -> str:
        """What the user asked: `question`, else (older recordings) every message joined."""
        return self.text if self.question is None else self.question

    @property
    def asked_tokens(self) -> int:
        return asked_tokens(self.question_tokens, self.prompt_tokens)


def asked_tokens(question_tokens: int | None, prompt_tokens: int) -> int:
    """What prompt_length reports: the user's prompt counted alone, else (older recordings) the prompt as sent."""
    return prompt_tokens if question_tokens is None else question_tokens


def question_of(messages: list[Message]) -> str:
    """The user's prompt alone: the last message's text (what prompt_length counts and the question's form reads)."""
    return str(messages[-1]["content"])


def before_signals(facts: PromptFacts) -> list[Signal]:
    found = [
        sig.private_mode(facts.private),
        sig.forced_cloud(facts.force_cloud),
        sig.context_overflow(facts.prompt_tokens, facts.max_tokens, facts.context_budget),
        sig.prompt_length(facts.asked_tokens, facts.prompt_tokens),
        *sig.question_form(facts.asked),
        sig.quotes_material(facts.asked),
        sig.privacy(facts.text, detect_pii=facts.detect_pii, allow_sensitive=facts.allow_sensitive),
    ]
    if facts.budget is not None:
        b = facts.budget
        found.append(sig.budget(b.spent_usd, b.estimate_usd, b.limit_usd))
    if facts.cloud_problem is not None:
        found.append(Signal("cloud_unavailable", "before", None, None, True, facts.cloud_problem,
                            blocks_handoff=True))
    return found


@dataclass(frozen=True)
class Prepared:
    """What the local model is sent, and the before-signals of exactly that."""

    messages: list[Message]
    tools: list[dict] | None
    offer: Offer
    facts: PromptFacts
    before: list[Signal]


def prepare(messages: list[Message], offer: Offer, count: Callable[[list[Message], list | None], int],
            facts_for: Callable[[int], PromptFacts]) -> Prepared:
    """Offer the handoff (instruction or tool) unless a before-signal forbids any handoff;
    `count(messages, tools)` counts the tokens actually sent, `facts_for(tokens)` builds the facts; the
    user's prompt (the last message) is counted alone too, for prompt_length, unless it is all that is sent, and
    kept as the question whose form the before-signals read."""
    question_tokens = None
    for candidate in (offer, Offer(None)) if offer.form else (offer,):
        sent, tools = candidate.apply(messages)
        tokens = count(sent, tools)
        if question_tokens is None:
            question_tokens = tokens if sent == messages[-1:] and not tools else count(messages[-1:], None)
        facts = replace(facts_for(tokens), question_tokens=question_tokens, question=question_of(messages))
        before = before_signals(facts)
        if candidate.form is None or policies.first_blocker(before) is None:
            return Prepared(sent, tools, candidate, facts, before)
    raise AssertionError("unreachable: the last candidate offers nothing")


__all__ = ["Budget", "PromptFacts", "question_of", "before_signals", "Prepared", "prepare"]
