"""During-signals: the streamed tokens (confidence, entropy, loops, speed).

One builder per signal, shared by the pure functions and `DuringMonitor`, which
keeps them incrementally while a cascade streams (cascade.stream_local).
"""
from __future__ import annotations

import math
from collections import deque
from collections.abc import Hashable, Sequence

from ..types import Signal, TokenEvent
from .thresholds import NO_LOGPROBS, Thresholds

def _not_before_min(n_tokens: int, th: Thresholds) -> str:
    return "." if n_tokens >= th.min_tokens else f", but nothing triggers before {th.min_tokens} tokens."


def _rolling_signal(name: str, window: Sequence[float | None], n_tokens: int, th: Thresholds) -> Signal:
    """low_confidence (mean probability below) or high_entropy (mean entropy above) over the window."""
    confidence = name == "low_confidence"
    threshold = th.stream_threshold if confidence else th.entropy
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
