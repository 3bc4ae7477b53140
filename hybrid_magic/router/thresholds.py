"""Signal thresholds, and what every signal module shares."""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import UsageError
from ..types import Signal

NO_LOGPROBS = "unavailable: the local backend returned no token logprobs."
# answer_confidence, chosen on the dev set (experiments.devset), never on builtin_mix
ANSWER_LOWEST = 3  # least likely tokens averaged
ANSWER_SCALE = 0.5  # default threshold = this times the low_confidence threshold
# low_confidence while the answer streams cuts at this times the knob: a stream stopped early must be
# clearly lost; the finished answer's answer_estimate (cut at the knob itself) ranks the rest. With the
# stream cut at the knob, the cascade ranked mixes of unseen families worse than answer_estimate alone
# (docs/routing_study.md, "The signal cascade").
STREAM_SCALE = 0.5


@dataclass(frozen=True)
class Thresholds:
    low_confidence: float = 0.5  # the confidence knob: answer_estimate's cut; STREAM_SCALE of it for low_confidence
    entropy: float = 3.0  # nats, rolling mean
    window: int = 8  # tokens in the rolling means
    min_tokens: int = 4  # no during-signal triggers before this many tokens
    repetition_span: int = 12  # a loop must cover at least this many tail tokens...
    repetition_repeats: int = 3  # ...and repeat its pattern at least this many times
    repetition_max_period: int = 32  # longest pattern (tokens) looked for
    deadline_s: float | None = None  # projected local generation time allowed
    self_check: float = 0.5  # on P(local model says its answer is correct)
    answer_confidence: float | None = None  # None: low_confidence * ANSWER_SCALE (one knob moves both)
    stream_confidence: float | None = None  # None: low_confidence * STREAM_SCALE (one knob moves both)
    answer_lowest: int = ANSWER_LOWEST  # answer_confidence averages this many least likely tokens
    context_budget: int = 0  # 0 = the local model's own context length
    # log-odds below its cut a learned policy's mid-answer estimate must fall to stop early (None: the policy's own,
    # the default router's 1.0): live HybridMagics.early_margin, in replay Experiment(thresholds=...)
    early_margin: float | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.low_confidence <= 1.0:
            raise UsageError(f"The confidence threshold must be between 0 and 1, not {self.low_confidence}.")
        if self.window < 1 or self.min_tokens < 1:
            raise UsageError("window and min_tokens must be at least 1.")
        if self.repetition_repeats < 2 or self.repetition_max_period < 1:
            raise UsageError("repetition_repeats must be at least 2 and repetition_max_period at least 1.")
        if self.deadline_s is not None and self.deadline_s <= 0:
            raise UsageError(f"The deadline must be positive seconds, not {self.deadline_s}.")
        for name in ("answer_confidence", "stream_confidence"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise UsageError(f"The {name.replace('_', ' ')} threshold must be between 0 and 1, not {value}.")
        if self.answer_lowest < 1:
            raise UsageError("answer_lowest must be at least 1.")
        if self.early_margin is not None and not (math.isfinite(self.early_margin) and self.early_margin >= 0):
            raise UsageError(f"The early margin must be None or a finite number >= 0 (log-odds), not {self.early_margin}.")

    @property
    def stream_threshold(self) -> float:
        """low_confidence's cut on the rolling mean token probability while the answer streams."""
        return self.low_confidence * STREAM_SCALE if self.stream_confidence is None else self.stream_confidence

    @property
    def answer_threshold(self) -> float:
        """The answer_confidence threshold: set explicitly, or derived from low_confidence."""
        return self.low_confidence * ANSWER_SCALE if self.answer_confidence is None else self.answer_confidence


def flag_signal(name: str, stage: str, on: bool, message: str, *, blocks: bool = False) -> Signal:
    return Signal(name, stage, 1.0 if on else 0.0, None, on, message, blocks_handoff=blocks and on)


def term_signal(name: str, stage: str, term: float | None, subject: str, missing: str) -> Signal:
    """A learned policy's own term (log-odds of a right local answer), informational: the policy weighs it.
    `subject` names what moves the log-odds; `missing` says why the term is unavailable when `term` is None."""
    if term is None:
        return Signal(name, stage, None, None, False,
                      f"unavailable: {missing}; the learned policy decided on the signals alone.", available=False)
    direction = "towards keeping" if term >= 0 else "towards a handoff"
    return Signal(name, stage, term, None, False,
                  f"{subject} move the log-odds of a right answer by {term:+.2f} ({direction}).")
