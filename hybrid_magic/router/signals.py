"""Routing signals: pure functions from measurements to `Signal`s.

before: the prompt alone (context, flags, privacy, budget, length, the question's form, quoted material), here.
during: the streamed tokens (confidence, entropy, loops, speed): during.py, with `DuringMonitor`.
after:  the finished local answer (truncation, refusal, format, confidence, arithmetic,
        its fit to the question (answer_fit.py), self-check): after.py.

All three are importable from here. Each message is one sentence a user reads,
with the value and its threshold. Nothing here decides a route: that is policy.py.
"""
from __future__ import annotations

import re

from ..types import Signal
from . import privacy as _privacy
from .after import (after_signals, answer_confidence, answer_tokens, arithmetic, format_check, refusal,
                    self_check, truncated)
from .answer_fit import OR, answer_fit
from .during import DuringMonitor, high_entropy, low_confidence, repetition, slow
from .thresholds import ANSWER_LOWEST, ANSWER_SCALE, NO_LOGPROBS, STREAM_SCALE, Thresholds, flag_signal

__all__ = ["Thresholds", "ANSWER_LOWEST", "ANSWER_SCALE", "STREAM_SCALE", "NO_LOGPROBS", "DuringMonitor",
           "context_overflow", "forced_cloud", "private_mode", "privacy", "budget", "prompt_length", "QUESTION_FORMS",
           "question_form", "quotes_material", "low_confidence", "high_entropy", "repetition", "slow", "truncated",
           "refusal", "format_check", "self_check", "answer_tokens", "answer_confidence", "arithmetic", "answer_fit",
           "after_signals"]


def _usd(amount: float) -> str:
    return f"${amount:.2f}" if amount >= 0.01 or amount == 0 else f"${amount:.6f}".rstrip("0")


def context_overflow(prompt_tokens: int, max_tokens: int, context_budget: int) -> Signal:
    needed = prompt_tokens + max_tokens
    if context_budget <= 0:
        return Signal("context_overflow", "before", float(needed), None, False,
                      "unavailable: the local context length is unknown.", available=False)
    over = needed > context_budget
    relation = "more than" if over else "within"
    message = (f"The prompt ({prompt_tokens} tokens) plus up to {max_tokens} new tokens needs {needed}, "
               f"{relation} the local context budget of {context_budget}.")
    return Signal("context_overflow", "before", float(needed), float(context_budget), over, message)


def forced_cloud(flag: bool) -> Signal:
    message = "The cell asks for the cloud model explicitly." if flag else "The cell does not force the cloud model."
    return flag_signal("forced_cloud", "before", flag, message)


def private_mode(flag: bool) -> Signal:
    message = ("Private mode is on, so nothing is sent to the cloud." if flag
               else "Private mode is off.")
    return flag_signal("private", "before", flag, message, blocks=True)


def privacy(text: str, *, detect_pii: bool, allow_sensitive: bool) -> Signal:
    findings = _privacy.find_sensitive(text, detect_pii=detect_pii)
    count = len(findings)
    if not count:
        what = "secrets or personal data" if detect_pii else "secrets"
        return Signal("privacy", "before", 0.0, 0.0, False, f"No {what} found in the prompt (0 findings).")
    items = f"{count} sensitive item{'s' if count > 1 else ''} ({', '.join(_privacy.kinds(findings))})"
    if allow_sensitive:
        message = f"The prompt contains {items}; sending it to the cloud was allowed explicitly."
    else:
        message = f"The prompt contains {items}, so it is not sent to the cloud."
    return Signal("privacy", "before", float(count), 0.0, True, message, blocks_handoff=not allow_sensitive)


def budget(spent_usd: float, estimate_usd: float | None, limit_usd: float) -> Signal:
    spent_usd, limit_usd = float(spent_usd), float(limit_usd)
    if limit_usd <= 0:
        return Signal("budget", "before", spent_usd, None, False,
                      f"No cloud budget is set ({_usd(spent_usd)} spent so far).")
    if estimate_usd is None:
        message = (f"The cost of this cloud call cannot be estimated (no price for the model), "
                   f"so the budget of {_usd(limit_usd)} cannot be guaranteed.")
        return Signal("budget", "before", spent_usd, limit_usd, True, message, blocks_handoff=True)
    total = spent_usd + estimate_usd
    over = total > limit_usd
    message = (f"Spent {_usd(spent_usd)} plus this call's estimated {_usd(estimate_usd)} makes {_usd(total)}, "
               f"{'over' if over else 'within'} the budget of {_usd(limit_usd)}.")
    return Signal("budget", "before", total, limit_usd, over, message, blocks_handoff=over)


def prompt_length(question_tokens: int, sent_tokens: int | None = None) -> Signal:
    """The user's prompt's length in tokens, as the chat template lays it out alone (informational)."""
    sent = "" if sent_tokens in (None, question_tokens) else f"; {sent_tokens} tokens sent in all"
    return Signal("prompt_length", "before", float(question_tokens), None, False,
                  f"The prompt has {question_tokens} tokens (informational{sent}).")


# The form of the user's question, read from its words alone (no model call): each 1.0 or 0.0, informational.
# The default router weighs them (benchmarks/heldout/log.md, candidate 6): a count asked for is more often
# wrong at 135M, a choice offered or a wh-question less often.
QUESTION_FORMS = {
    "asks_how_many": (re.compile(r"\bhow (?:many|much)\b", re.IGNORECASE),
                      "asks how many or how much", "does not ask how many or how much"),
    "offers_choice": (OR, "offers a choice ('or')", "offers no choice ('or')"),
    "wh_question": (re.compile(r"^\W*(?:who|what|when|where|which|why|how)\b", re.IGNORECASE),
                    "starts with who, what, when, where, which, why or how",
                    "does not start with who, what, when, where, which, why or how"),
}


def question_form(question: str) -> list[Signal]:
    """One informational before-signal per QUESTION_FORMS entry: whether the user's prompt has that form."""
    found = []
    for name, (pattern, has_it, has_not) in QUESTION_FORMS.items():
        has = pattern.search(question) is not None
        found.append(Signal(name, "before", float(has), None, False,
                            f"The prompt {has_it if has else has_not} (informational)."))
    return found


# Material quoted in the prompt (a passage, a message, rows of data: a quoted span of 12 to 400 characters on one
# line, several lines, or a table's " | "): where the default router knows least. On the twelve hand-written sets it
# never saw (U-ZF) it ranked such prompts near chance (AUROC .56 / .49 at 24 / 128 tokens, against .80 / .76 for
# the others; docs/routing_study.md, "Twelve more sets"), so the card says so. Informational: no policy weighs it.
_QUOTED = re.compile(r"(?<![^\W\d_])[\"\u201c\u2018'`][^\n]{12,400}?[\"\u201d\u2019'`](?![^\W\d_])")


def quotes_material(question: str) -> Signal:
    """Whether the user's prompt quotes material (informational); the message names none of its words."""
    quoted = bool(_QUOTED.search(question)) or "\n" in question.strip() or " | " in question
    message = ("The prompt quotes material (text in quotes, several lines or a table); on such prompts the router's "
               "estimate is least reliable (informational)." if quoted
               else "The prompt quotes no material (informational).")
    return Signal("quotes_material", "before", float(quoted), None, False, message)
