"""Routing signals: pure functions from measurements to `Signal`s.

before: the prompt alone (context, flags, privacy, budget, length).
during: the streamed tokens (confidence, entropy, loops, speed); `DuringMonitor`
        keeps them incrementally and `replay_during` re-runs it on recorded tokens.
after:  the finished local answer (truncation, refusal, format, confidence, arithmetic, self-check).

Each message is one sentence a user reads, with the value and its threshold.
Nothing here decides a route: that is policy.py.
"""
from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from ..errors import UsageError
from ..types import FORMATS, Signal, TokenEvent
from . import formats, privacy as _privacy
from .arithmetic import wrong_equations
from .confidence import estimate_signal

NO_LOGPROBS = "unavailable: the local backend returned no token logprobs."
# answer_confidence, chosen on the dev set (experiments.devset), never on builtin_mix
ANSWER_LOWEST = 3  # least likely tokens averaged
ANSWER_SCALE = 0.5  # default threshold = this times the low_confidence threshold


@dataclass(frozen=True)
class Thresholds:
    low_confidence: float = 0.5  # on the rolling mean token probability exp(logprob)
    entropy: float = 3.0  # nats, rolling mean
    window: int = 8  # tokens in the rolling means
    min_tokens: int = 4  # no during-signal triggers before this many tokens
    repetition_span: int = 12  # a loop must cover at least this many tail tokens...
    repetition_repeats: int = 3  # ...and repeat its pattern at least this many times
    repetition_max_period: int = 32  # longest pattern (tokens) looked for
    deadline_s: float | None = None  # projected local generation time allowed
    self_check: float = 0.5  # on P(local model says its answer is correct)
    answer_confidence: float | None = None  # None: low_confidence * ANSWER_SCALE (one knob moves both)
    answer_lowest: int = ANSWER_LOWEST  # answer_confidence averages this many least likely tokens
    context_budget: int = 0  # 0 = the local model's own context length

    def __post_init__(self) -> None:
        if not 0.0 <= self.low_confidence <= 1.0:
            raise UsageError(f"The confidence threshold must be between 0 and 1, not {self.low_confidence}.")
        if self.window < 1 or self.min_tokens < 1:
            raise UsageError("window and min_tokens must be at least 1.")
        if self.repetition_repeats < 2 or self.repetition_max_period < 1:
            raise UsageError("repetition_repeats must be at least 2 and repetition_max_period at least 1.")
        if self.deadline_s is not None and self.deadline_s <= 0:
            raise UsageError(f"The deadline must be positive seconds, not {self.deadline_s}.")
        if self.answer_confidence is not None and not 0.0 <= self.answer_confidence <= 1.0:
            raise UsageError(f"The answer confidence threshold must be between 0 and 1, not {self.answer_confidence}.")
        if self.answer_lowest < 1:
            raise UsageError("answer_lowest must be at least 1.")

    @property
    def answer_threshold(self) -> float:
        """The answer_confidence threshold: set explicitly, or derived from low_confidence."""
        return self.low_confidence * ANSWER_SCALE if self.answer_confidence is None else self.answer_confidence


def _usd(amount: float) -> str:
    return f"${amount:.2f}" if amount >= 0.01 or amount == 0 else f"${amount:.6f}".rstrip("0")


def _flag(name: str, stage: str, on: bool, message: str, *, blocks: bool = False) -> Signal:
    return Signal(name, stage, 1.0 if on else 0.0, None, on, message, blocks_handoff=blocks and on)


# ---- before ---------------------------------------------------------------------------

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
    return _flag("forced_cloud", "before", flag, message)


def private_mode(flag: bool) -> Signal:
    message = ("Private mode is on, so nothing is sent to the cloud." if flag
               else "Private mode is off.")
    return _flag("private", "before", flag, message, blocks=True)


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


def prompt_length(prompt_tokens: int) -> Signal:
    return Signal("prompt_length", "before", float(prompt_tokens), None, False,
                  f"The prompt has {prompt_tokens} tokens (informational).")


# ---- during: one builder per signal, shared by the pure functions and the monitor --------

def _not_before_min(n_tokens: int, th: Thresholds) -> str:
    return "." if n_tokens >= th.min_tokens else f", but nothing triggers before {th.min_tokens} tokens."


def _rolling_signal(name: str, window: Sequence[float | None], n_tokens: int, th: Thresholds) -> Signal:
    """low_confidence (mean probability below) or high_entropy (mean entropy above) over the window."""
    confidence = name == "low_confidence"
    threshold = th.low_confidence if confidence else th.entropy
    if n_tokens == 0:
        return Signal(name, "during", None, threshold, False, "No tokens have been generated yet.")
    if None in window:
        return Signal(name, "during", None, threshold, False, NO_LOGPROBS, available=False)
    mean = sum(window) / len(window)
    crossed = mean < threshold if confidence else mean > threshold
    if confidence:
        head = f"Mean token probability over the last {len(window)} tokens was {mean:.2f}"
        relation = "below" if crossed else "at or above"
    else:
        head = f"Mean token entropy over the last {len(window)} tokens was {mean:.2f} nats"
        relation = "above" if crossed else "at or below"
    message = f"{head}, {relation} {threshold:.2f}{_not_before_min(n_tokens, th)}"
    return Signal(name, "during", mean, threshold, crossed and n_tokens >= th.min_tokens, message)


def _loop(runs: Sequence[int], th: Thresholds) -> tuple[int, int]:
    """(span, period) of the longest qualifying loop at the tail; runs[p] = tail tokens equal to
    the token p places earlier. A period-p loop covers runs[p] + p tokens."""
    best_span, best_period = 0, 0
    for period in range(1, len(runs)):
        span = runs[period] + period
        if runs[period] >= (th.repetition_repeats - 1) * period and span > best_span:
            best_span, best_period = span, period
    return best_span, best_period


def _repetition_signal(runs: Sequence[int], n_tokens: int, th: Thresholds) -> Signal:
    span, period = _loop(runs, th)
    threshold = float(th.repetition_span)
    triggered = span >= th.repetition_span and n_tokens >= th.min_tokens
    if not span:
        message = (f"No pattern repeats {th.repetition_repeats} times at the end of the answer "
                   f"(a loop counts from {th.repetition_span} tokens).")
    else:
        message = (f"The last {span} tokens repeat a {period}-token pattern {span / period:.3g} times; "
                   f"a loop counts from {th.repetition_span} tokens.")
    return Signal("repetition", "during", float(span), threshold, triggered, message)


def _tail_runs(keys: Sequence[Hashable], max_period: int) -> list[int]:
    runs = [0] * (max_period + 1)
    last = len(keys) - 1
    for period in range(1, max_period + 1):
        i = last
        while i - period >= 0 and keys[i] == keys[i - period]:
            i -= 1
        runs[period] = last - i
    return runs


def low_confidence(logprobs: Sequence[float | None], th: Thresholds) -> Signal:
    window = [None if lp is None else math.exp(lp) for lp in list(logprobs)[-th.window:]]
    return _rolling_signal("low_confidence", window, len(logprobs), th)


def high_entropy(entropies: Sequence[float | None], th: Thresholds) -> Signal:
    return _rolling_signal("high_entropy", list(entropies)[-th.window:], len(entropies), th)


def repetition(token_ids: Sequence[Hashable], th: Thresholds) -> Signal:
    return _repetition_signal(_tail_runs(token_ids, th.repetition_max_period), len(token_ids), th)


def slow(completion_tokens: int, elapsed_s: float | None, max_tokens: int, deadline_s: float | None,
         *, min_tokens: int = Thresholds.min_tokens) -> Signal:
    """Projected seconds to reach max_tokens at the rate so far, against the deadline."""
    threshold = deadline_s
    if elapsed_s is None:
        return Signal("slow", "during", None, threshold, False,
                      "unavailable: no generation timing was recorded.", available=False)
    if completion_tokens <= 0:
        return Signal("slow", "during", None, threshold, False, "No tokens have been generated yet.")
    projected = elapsed_s / completion_tokens * max_tokens
    head = f"At the current rate, {max_tokens} tokens would take {projected:.1f} s"
    if deadline_s is None:
        return Signal("slow", "during", projected, None, False, f"{head}; no deadline is set.")
    over = projected > deadline_s
    ready = completion_tokens >= min_tokens
    tail = "." if ready else f", but nothing triggers before {min_tokens} tokens."
    message = f"{head}, {'over' if over else 'within'} the {deadline_s:.1f} s deadline{tail}"
    return Signal("slow", "during", projected, deadline_s, over and ready, message)


class DuringMonitor:
    """Incremental during-signals: O(window + max_period) per token, no history kept."""

    def __init__(self, th: Thresholds, max_tokens: int):
        self.th = th
        self.max_tokens = max_tokens
        self._probs: deque[float | None] = deque(maxlen=th.window)
        self._entropies: deque[float | None] = deque(maxlen=th.window)
        self._recent: deque[Hashable] = deque(maxlen=th.repetition_max_period)
        self._runs = [0] * (th.repetition_max_period + 1)
        self._tokens = 0
        self._elapsed_s: float | None = None

    def observe(self, event: TokenEvent, elapsed_s: float | None) -> Signal | None:
        """Add one token; return the first triggered during-signal, or None.

        A closing event without a token (text "" and no id) changes nothing."""
        if event.token_id is None and not event.text:
            return None
        self._tokens += 1
        self._elapsed_s = elapsed_s
        self._probs.append(None if event.logprob is None else math.exp(event.logprob))
        self._entropies.append(event.entropy)
        self._update_runs(event.token_id if event.token_id is not None else event.text)
        if self._tokens < self.th.min_tokens:
            return None
        for signal in self._each_signal():
            if signal.triggered:
                return signal
        return None

    def signals(self) -> list[Signal]:
        """The current value of every during-signal."""
        return list(self._each_signal())

    def _each_signal(self):
        n, th = self._tokens, self.th
        yield _rolling_signal("low_confidence", self._probs, n, th)
        yield _rolling_signal("high_entropy", self._entropies, n, th)
        yield _repetition_signal(self._runs, n, th)
        yield slow(n, self._elapsed_s, self.max_tokens, th.deadline_s, min_tokens=th.min_tokens)

    def _update_runs(self, key: Hashable) -> None:
        recent, runs = self._recent, self._runs
        seen = len(recent)
        for period in range(1, len(runs)):
            runs[period] = runs[period] + 1 if period <= seen and recent[-period] == key else 0
        recent.append(key)


def replay_during(tokens: Sequence[TokenEvent], th: Thresholds, max_tokens: int,
                  seconds_per_token: float | None = None) -> tuple[int | None, list[Signal]]:
    """Where a live DuringMonitor would have stopped these recorded tokens (index, or None),
    and the during-signals at that point (or at the end)."""
    monitor = DuringMonitor(th, max_tokens)
    for index, event in enumerate(tokens):
        elapsed = None if seconds_per_token is None else (index + 1) * seconds_per_token
        if monitor.observe(event, elapsed) is not None:
            return index, monitor.signals()
    return None, monitor.signals()


# ---- after ----------------------------------------------------------------------------

_REFUSAL = re.compile(
    r"\b(?:i (?:don't|do not|can't|cannot|can not|won't be able to|am unable|am not able to|am not sure"
    r"|don't have access|do not have access)|i'm (?:unable|not able to|not sure|just an ai|sorry, but)"
    r"|i am sorry, but|as an ai)\b")
_REFUSAL_WINDOW = 120  # characters: a refusal opens the answer, it is not buried in it


def truncated(finish_reason: str | None, fmt: str = "text", format_ok: bool | None = None) -> Signal:
    """Cut off at max-tokens; no handoff when the format check found the complete answer before the cut."""
    cut = finish_reason == "length"
    if not cut:
        return _flag("truncated", "after", False,
                     f"The local answer ended normally (finish reason: {finish_reason or 'unknown'}).")
    if format_ok:
        return Signal("truncated", "after", 1.0, None, False,
                      f"The local answer hit the max-tokens limit after a complete {fmt} answer, "
                      "so only what followed it was cut off.")
    return _flag("truncated", "after", True, "The local answer hit the max-tokens limit and may be cut off.")


def refusal(text: str) -> Signal:
    opening = text.strip()[:_REFUSAL_WINDOW].lower().replace("\u2019", "'")
    if not opening:
        return _flag("refusal", "after", True, "The local answer is empty, which counts as a refusal.")
    found = _REFUSAL.search(opening)
    phrase = found.group(0) if found else None
    message = (f"The local answer opens with a refusal or doubt (\"{phrase}\")." if phrase
               else "The local answer does not open with a refusal.")
    return _flag("refusal", "after", phrase is not None, message)


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
    return [t for t in tokens if t.token_id is not None or t.text]


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
                  p_yes: float | None = None, tokens: Sequence[TokenEvent] = ()) -> list[Signal]:
    """Every after-signal; without `tokens` (or their logprobs) answer_confidence is unavailable."""
    checked_format = format_check(text, fmt)
    format_ok = None if not checked_format.available else not checked_format.triggered
    return [truncated(finish_reason, fmt, format_ok), refusal(text), checked_format, answer_confidence(tokens, th),
            estimate_signal(tokens, th.low_confidence), arithmetic(text), self_check(p_yes, th)]
