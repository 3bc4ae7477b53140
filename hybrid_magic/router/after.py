"""After-signals: the finished local answer (truncation, refusal, format, confidence, arithmetic, its fit to the
question, self-check)."""
from __future__ import annotations

import math
import re
from collections.abc import Sequence

from ..errors import UsageError
from ..types import FORMATS, Signal, TokenEvent
from . import formats
from .answer_fit import answer_fit, bare_yes_no
from .arithmetic import wrong_equations
from .confidence import estimate_signal
from .thresholds import NO_LOGPROBS, Thresholds, flag_signal

_REFUSAL = re.compile(
    r"\b(?:i (?:don't|do not|can't|cannot|can not|won't be able to|am unable|am not able to|am not sure"
    r"|don't have access|do not have access)|i'm (?:unable|not able to|not sure|just an ai|sorry, but)"
    r"|i am sorry, but|as an ai)\b")
_REFUSAL_WINDOW = 120  # characters: a refusal opens the answer, it is not buried in it


def truncated(finish_reason: str | None, fmt: str = "text", format_ok: bool | None = None) -> Signal:
    """Cut off at max-tokens; no handoff when the format check found the complete answer before the cut."""
    cut = finish_reason == "length"
    if not cut:
        return flag_signal("truncated", "after", False,
                     f"The local answer ended normally (finish reason: {finish_reason or 'unknown'}).")
    if format_ok:
        return Signal("truncated", "after", 1.0, None, False,
                      f"The local answer hit the max-tokens limit after a complete {fmt} answer, "
                      "so only what followed it was cut off.")
    return flag_signal("truncated", "after", True, "The local answer hit the max-tokens limit and may be cut off.")


def refusal(text: str) -> Signal:
    opening = text.strip()[:_REFUSAL_WINDOW].lower().replace("\u2019", "'")
    if not opening:
        return flag_signal("refusal", "after", True, "The local answer is empty, which counts as a refusal.")
    found = _REFUSAL.search(opening)
    phrase = found.group(0) if found else None
    message = (f"The local answer opens with a refusal or doubt (\"{phrase}\")." if phrase
               else "The local answer does not open with a refusal.")
    return flag_signal("refusal", "after", phrase is not None, message)


def format_check(text: str, fmt: str) -> Signal:
    if fmt not in FORMATS:
        raise UsageError(f"Unknown format '{fmt}'; use one of: {', '.join(FORMATS)}.")
    check = formats.FORMAT_CHECKS.get(fmt)
    if check is None:
        return Signal("format", "after", None, None, False,
                      f"No format check applies to {fmt} answers.", available=False)
    ok, detail = check(text)  # value 1 = the format holds
    return Signal("format", "after", 1.0 if ok else 0.0, None, not ok, f"The local answer {detail}.")


def self_check(p_yes: float | None, th: Thresholds) -> Signal:
    if p_yes is None:
        return Signal("self_check", "after", None, th.self_check, False,
                      "unavailable: the local model was not asked to check its answer.", available=False)
    low = p_yes < th.self_check
    message = (f"The local model rates its own answer correct with probability {p_yes:.2f}, "
               f"{'below' if low else 'at or above'} {th.self_check:.2f}.")
    return Signal("self_check", "after", p_yes, th.self_check, low, message)


def answer_tokens(tokens: Sequence[TokenEvent]) -> list[TokenEvent]:
    """The generated tokens (a closing event without a token is not one)."""
    return [t for t in tokens if t.is_generated]


def answer_confidence(tokens: Sequence[TokenEvent], th: Thresholds) -> Signal:
    """Geometric mean probability of the answer's `answer_lowest` least likely tokens: one wrong
    number or name is a few unlikely tokens that a mean over the whole answer hides."""
    threshold, generated = th.answer_threshold, answer_tokens(tokens)
    if not generated:
        return Signal("answer_confidence", "after", None, threshold, False, "The local answer has no tokens.",
                      available=False)
    if any(t.logprob is None for t in generated):
        return Signal("answer_confidence", "after", None, threshold, False, NO_LOGPROBS, available=False)
    lowest = sorted(t.logprob for t in generated)[:th.answer_lowest]
    value = math.exp(sum(lowest) / len(lowest))
    low = value < threshold
    message = (f"The {len(lowest)} least likely tokens of the local answer have a mean probability of {value:.2f}, "
               f"{'below' if low else 'at or above'} {threshold:.2f}.")
    return Signal("answer_confidence", "after", value, threshold, low, message)


def arithmetic(text: str) -> Signal:
    """The local answer's own arithmetic, recomputed: a wrong `a op b = c` means a wrong answer."""
    checked, wrong = wrong_equations(text)
    if wrong:
        more = f" ({len(wrong)} of {checked} calculations are wrong)" if checked > 1 else ""
        message = f"The local answer states {wrong[0]}{more}."
    elif checked:
        message = f"The {checked} calculation{'s' if checked > 1 else ''} in the local answer check{'' if checked > 1 else 's'} out."
    else:
        message = "The local answer states no calculation to check."
    return Signal("arithmetic", "after", float(len(wrong)), 0.0, bool(wrong), message)


def after_signals(text: str, finish_reason: str | None, fmt: str, th: Thresholds,
                  p_yes: float | None = None, tokens: Sequence[TokenEvent] = (), question: str | None = None
                  ) -> list[Signal]:
    """Every after-signal; without `tokens` (or their logprobs) answer_confidence is unavailable; without the
    user's `question` the answer's fit to it (answer_fit, and whether it is a bare yes or no) is not read."""
    checked_format = format_check(text, fmt)
    format_ok = None if not checked_format.available else not checked_format.triggered
    fit = [*answer_fit(question, text), bare_yes_no(question, text)] if question is not None else []
    return [truncated(finish_reason, fmt, format_ok), refusal(text), checked_format, answer_confidence(tokens, th),
            estimate_signal(tokens, th.low_confidence), arithmetic(text), *fit, self_check(p_yes, th)]
