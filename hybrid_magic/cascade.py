"""The one cascade driver: before → stream → after → decide, for every caller.

Callers differ in two inputs only:

| caller                         | stop rule | token source              |
|--------------------------------|-----------|---------------------------|
| %%hybrid                       | STOP      | `LiveSource` (backend)    |
| %%compare                      | NOTE      | `LiveSource`              |
| experiments, recording an item | NEVER     | `LiveSource` or recorded  |
| experiments, replay and sweeps | STOP      | `RecordedSource`          |

STOP ends local generation at the first token where a during-signal fires and
the policy, shown every signal so far, routes to the cloud (early handoff);
NOTE remembers that token and keeps generating; NEVER does not ask. Because
replay runs this same code on the recorded tokens, it makes the decision live
%%hybrid makes on them: same route, same deciding signal, same stop token.

The prompt side (`prompt.prepare`: the messages the local model is sent and
their before-signals, the same for every caller) is imported from prompt.py
and importable from here.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

from .model_handoff import HandoffMonitor, Offer
from .prompt import Budget, Prepared, PromptFacts, before_signals, prepare
from .reasoning import split_reasoning
from .router import policy as policies
from .router import signals as sig
from .types import Decision, Message, Signal, TokenEvent

TokenReader = Callable[[list[TokenEvent]], Signal]  # a policy's own reading of the tokens (router.states, answer_terms)

STOP, NOTE, NEVER = "stop", "note", "never"
STOP_RULES = (STOP, NOTE, NEVER)


@dataclass(frozen=True)
class Rules:
    """How to decide: the policy, its knob, the signal thresholds, early handoff, the answer format."""

    policy: str = "cascade"
    params: policies.PolicyParams = policies.PolicyParams()
    thresholds: sig.Thresholds = sig.Thresholds()
    early_handoff: bool = True
    fmt: str = "text"

    def decide(self, signals: Sequence[Signal]) -> Decision:
        return policies.decide(self.policy, signals, self.params)


# ---- token sources -----------------------------------------------------------------------

class LiveSource:
    """The backend's stream, each event with the seconds since the call to stream()."""

    def __init__(self, backend, messages: list[Message], params, tools: list[dict] | None = None):
        self.backend, self.messages, self.params, self.tools = backend, messages, params, tools
        self.max_tokens = params.max_tokens

    def __iter__(self) -> Iterator[tuple[TokenEvent, float]]:
        started = time.perf_counter()
        extra = {"tools": self.tools} if self.tools else {}
        stream = self.backend.stream(self.messages, self.params, **extra)
        try:
            for event in stream:
                yield event, time.perf_counter() - started
        finally:
            stream.close()  # stops generation now: this is the early handoff


class RecordedSource:
    """Recorded TokenEvents (and their seconds, when known), replayed through the same code."""

    def __init__(self, events: Sequence[TokenEvent], elapsed: Sequence[float | None] | None, max_tokens: int):
        self.events, self.max_tokens = list(events), max_tokens
        self.elapsed = list(elapsed) if elapsed is not None else [None] * len(self.events)

    def __iter__(self) -> Iterator[tuple[TokenEvent, float | None]]:
        return iter(zip(self.events, self.elapsed))


class SilentObserver:
    def phase(self, name: str, detail: str = "") -> None:
        pass

    def local_token(self, event: TokenEvent) -> None:
        pass

    def cloud_token(self, event: TokenEvent) -> None:
        pass


SILENT = SilentObserver()


# ---- the local stream ----------------------------------------------------------------------

@dataclass
class LocalRun:
    """The local side as it streamed: tokens, the last event, and where %%hybrid stops."""

    text: str = ""
    tokens: list[TokenEvent] = field(default_factory=list)  # generated tokens (a bare closing event is not one)
    elapsed: list[float | None] = field(default_factory=list)  # seconds at each token
    last: TokenEvent | None = None  # the event carrying finish_reason (None: stopped or interrupted)
    interrupted: bool = False
    stop_index: int | None = None  # token at which %%hybrid stops (STOP) or would stop (NOTE)
    stop_decision: Decision | None = None
    asked: list[tuple[int, float]] = field(default_factory=list)  # a learned policy's estimates while streaming
    during: list[Signal] = field(default_factory=list)
    after: list[Signal] = field(default_factory=list)

    @property
    def stopped(self) -> bool:
        return self.last is None and not self.interrupted

    @property
    def finish_reason(self) -> str:
        if self.last is not None:
            return self.last.finish_reason
        return "interrupted" if self.interrupted else "early_handoff"


def make_monitor(max_tokens: int, rules: Rules, offer: Offer):
    monitor = sig.DuringMonitor(rules.thresholds, max_tokens)
    return HandoffMonitor(monitor, offer.detect_pii) if offer.form else monitor


def stream_local(source, before: list[Signal], rules: Rules, stop: str, offer: Offer,
                 observer=SILENT, states: TokenReader | None = None) -> LocalRun:
    """Every event goes to the observer and the monitor, the last one included. `states`
    (router.states.state_hook) reads the prompt state the first token carries, so a policy with
    hidden-state terms weighs them from the first token on, early handoffs included."""
    run, monitor, fired, read = LocalRun(), make_monitor(source.max_tokens, rules, offer), {}, []
    events = iter(source)
    try:
        for event, elapsed in events:
            _take(run, event, elapsed)
            observer.local_token(event)
            if states is not None and not read and run.tokens:
                read.append(states(run.tokens))
            signal = monitor.observe(event, elapsed)
            if signal is not None:
                fired.setdefault(signal.name, signal)  # a signal that fired once stays fired
                if _may_stop(run, rules, stop) and _hands_off(run, before, _sticky(monitor, fired) + read, rules) \
                        and stop == STOP:
                    break
            if event.is_last:
                run.last, run.interrupted = event, event.finish_reason == "interrupted"
                break
    except KeyboardInterrupt:  # landed here rather than inside the backend's loop
        run.interrupted = True
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()
    if states is not None and not read:  # no token came: the reader says the state is unavailable
        read.append(states(run.tokens))
    run.during = _sticky(monitor, fired) + read
    return run


def _take(run: LocalRun, event: TokenEvent, elapsed: float | None) -> None:
    if event.is_generated:
        run.tokens.append(event)
        run.elapsed.append(elapsed)
    run.text += event.text


def _sticky(monitor, fired: dict[str, Signal]) -> list[Signal]:
    return [fired.get(s.name, s) for s in monitor.signals()]


def _may_stop(run: LocalRun, rules: Rules, stop: str) -> bool:
    """Whether a firing token can still end local generation (checked before the signals are gathered)."""
    return stop != NEVER and rules.early_handoff and run.stop_index is None


def _hands_off(run: LocalRun, before, during, rules: Rules) -> bool:
    """Ask the policy (every signal so far) whether this firing token ends local generation."""
    decision = rules.decide(before + during)
    if decision.cut is not None:  # a learned policy's estimate, for the timeline
        run.asked.append((max(len(run.tokens) - 1, 0), 1.0 - decision.score))
    if decision.route != "cloud":
        return False
    run.stop_index, run.stop_decision = max(len(run.tokens) - 1, 0), decision
    return True


def after_signals(run: LocalRun, rules: Rules, p_yes: Callable[[str], float | None] | None = None,
                  answer: TokenReader | None = None, question: str | None = None) -> list[Signal]:
    """`answer` (router.answer_terms.answer_hook) reads a learned policy's answer-feature term from the tokens;
    `question` is the user's prompt alone, whose form the answer is checked against (router.answer_fit)."""
    text = split_reasoning(run.text)[1]  # a reasoning model's thinking is not checked as the answer
    probability = p_yes(text) if p_yes is not None and text.strip() else None
    found = sig.after_signals(text, run.finish_reason, rules.fmt, rules.thresholds, probability, run.tokens, question)
    return found + [answer(run.tokens)] if answer is not None else found


# ---- the whole cascade ---------------------------------------------------------------------

@dataclass
class Verdict:
    """The driver's answer: the signals, the decision, and the local run (None: decided before)."""

    before: list[Signal]
    decision: Decision
    local: LocalRun | None

    @property
    def route(self) -> str:
        return self.decision.route

    @property
    def stop_index(self) -> int | None:
        return self.local.stop_index if self.local is not None and self.decision.route == "cloud" else None


def run_cascade(prepared: Prepared, rules: Rules, open_source: Callable[[Decision], object], stop: str,
                observer=SILENT, p_yes: Callable[[str], float | None] | None = None,
                states: TokenReader | None = None, answer: TokenReader | None = None) -> Verdict:
    """before → stream → after → decide. `open_source(first_decision)` returns the token source
    (it may raise, e.g. when the prompt does not fit, naming the decision); `p_yes` is the after-stage's
    optional self-check, `states` the stream's optional hidden-state reading (from the first token),
    `answer` the after-stage's optional answer-feature reading (both only for a learned policy with them)."""
    if stop not in STOP_RULES:
        raise ValueError(f"stop must be one of {', '.join(STOP_RULES)}, not {stop!r}")
    before = prepared.before
    first = rules.decide(before)
    if first.route == "cloud" and stop != NEVER:  # NEVER (recording) generates the local answer anyway
        return Verdict(before, first, None)
    local = stream_local(open_source(first), before, rules, stop, prepared.offer, observer, states)
    if local.interrupted:
        return Verdict(before, first, local)
    if local.stop_decision is not None and stop != NEVER:
        return Verdict(before, _with_estimates(local.stop_decision, local, local.stop_index), local)
    try:  # the after-stage may run the model again (self-check): an interrupt keeps the answer
        local.after = after_signals(local, rules, p_yes, answer, prepared.facts.asked)
    except KeyboardInterrupt:
        local.interrupted = True
        return Verdict(before, first, local)
    final = rules.decide(before + local.during + local.after)
    return Verdict(before, _with_estimates(final, local, max(len(local.tokens) - 1, 0)), local)


def _with_estimates(decision: Decision, run: LocalRun, index: int) -> Decision:
    """A learned decision carries the estimates its policy gave while streaming, and its own at token `index`
    (a firm request too: the estimate is shown against the cut, the request decided)."""
    if decision.cut is None:
        return decision
    earlier = [(i, p) for i, p in run.asked if i < index]
    return replace(decision, estimates=tuple(earlier) + ((index, 1.0 - decision.score),))


__all__ = ["STOP", "NOTE", "NEVER", "Budget", "PromptFacts", "before_signals", "Prepared", "prepare", "Rules",
           "LiveSource", "RecordedSource", "SilentObserver", "SILENT", "LocalRun", "stream_local",
           "after_signals", "Verdict", "run_cascade"]
