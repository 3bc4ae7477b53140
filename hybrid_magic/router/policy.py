"""Policies: a list of Signals in, one Decision out. A plain registry of pure functions.

A triggered signal either *requests* a handoff (low confidence, overflow, --cloud, ...)
or *guards* it (privacy, budget, private mode: those never request one, and a
triggered blocking signal forbids it). Blocking always wins, whatever the policy:
`always-cloud` never leaks a secret either.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from ..errors import UsageError
from ..types import Decision, Signal
from .answer_fit import BARE_YES_NO, NAMES as ANSWER_FIT
from .signals import QUESTION_FORMS
from .thresholds import Thresholds

# signals that never ask for a handoff even when triggered
GUARD_SIGNALS = frozenset({"privacy", "budget", "private", "cloud_unavailable"})
# signals no policy weighs, whose value 1 says the router's estimate is least reliable on this prompt or answer: the
# card shows their message as a caveat line (display/mime.py caveats)
CAVEAT_SIGNALS = frozenset({"quotes_material", BARE_YES_NO})
# prompt_length, the question's form (signals.QUESTION_FORMS), the caveats and the answer's fit to the question
# (router/answer_fit.py); hidden_states (router/states.py) and answer_features (router/answer_terms.py): a learned
# policy's own terms, weighed by that policy
INFORMATIONAL_SIGNALS = frozenset({"prompt_length", *QUESTION_FORMS, *CAVEAT_SIGNALS, *ANSWER_FIT, "hidden_states",
                                   "answer_features"})
# shown on the card and learned from by fit_policy, but they do not request a handoff on their own:
# measured leave-family-out on experiments.corpus (docs/routing_study.md), answer_confidence is
# superseded by answer_estimate, and truncation at a small max-tokens budget says which *kind* of
# prompt it is (AUROC 0.5 within each family) and handed off whole kinds wholesale.
QUIET_SIGNALS = frozenset({"answer_confidence", "truncated"})
_STAGE_ORDER = {"before": 0, "during": 1, "after": 2}

DEFAULT_LENGTH_THRESHOLD = 256  # prompt tokens
DEFAULT_RANDOM_THRESHOLD = 0.5  # probability of a handoff


@dataclass(frozen=True)
class PolicyParams:
    threshold: float | None = None  # length: prompt tokens; random: P(handoff); cascade: unused
    seed_key: str = ""  # random: the same key always gives the same draw
    early_margin: float | None = None  # a learned policy: its mid-answer margin (None: the policy's own early_margin)


Policy = Callable[[Sequence[Signal], PolicyParams], Decision]


def ordered(signals: Sequence[Signal]) -> tuple[Signal, ...]:
    """Triggered first, then by stage before/during/after; otherwise in the order given."""
    return tuple(sorted(signals, key=lambda s: (not s.triggered, _STAGE_ORDER.get(s.stage, 3))))


def requests_handoff(signal: Signal) -> bool:
    return (signal.triggered and not signal.blocks_handoff and signal.name not in GUARD_SIGNALS
            and signal.name not in INFORMATIONAL_SIGNALS and signal.name not in QUIET_SIGNALS)


def requesting_signal(signals: Sequence[Signal]) -> Signal | None:
    """The earliest signal that requests a handoff (never a guard): the one the cascade hands off for.
    Once decided, `Decision.reason_signal()` says which signal a decision names."""
    return next((s for s in ordered(signals) if requests_handoff(s)), None)


def first_blocker(signals: Sequence[Signal]) -> Signal | None:
    return next((s for s in ordered(signals) if s.triggered and s.blocks_handoff), None)


def _decision(signals: Sequence[Signal], policy: str, *, requested: bool, stage=None, score=None) -> Decision:
    """Route to the cloud when requested, unless a blocking signal forbids it."""
    blocker = first_blocker(signals) if requested else None
    route = "cloud" if requested and blocker is None else "local"
    return Decision(route=route, handoff_requested=requested, handoff_performed=route == "cloud",
                    blocked_by=blocker.name if blocker else None, signals=ordered(signals),
                    policy=policy, score=score, stage=stage if requested else None)


def cascade(signals: Sequence[Signal], params: PolicyParams) -> Decision:
    """Hand off at the earliest stage where any signal asks for it; score = that signal's value."""
    requesting = requesting_signal(signals)
    if requesting is None:
        return _decision(signals, "cascade", requested=False)
    return _decision(signals, "cascade", requested=True, stage=requesting.stage, score=requesting.value)


def always_local(signals: Sequence[Signal], params: PolicyParams) -> Decision:
    return _decision(signals, "always-local", requested=False)


def always_cloud(signals: Sequence[Signal], params: PolicyParams) -> Decision:
    return _decision(signals, "always-cloud", requested=True, stage="before")


def length(signals: Sequence[Signal], params: PolicyParams) -> Decision:
    """Baseline: hand off prompts longer than `threshold` tokens (default 256): the user's prompt as the chat
    template lays it out alone (prompt_length), not a system prompt or a chat's history sent with it."""
    measured = next((s for s in signals if s.name == "prompt_length"), None)
    if measured is None or measured.value is None:
        raise UsageError("The length policy needs the prompt_length signal; pass signals.prompt_length(...).")
    limit = DEFAULT_LENGTH_THRESHOLD if params.threshold is None else params.threshold
    decision = _decision(signals, "length", requested=measured.value > limit, stage="before", score=measured.value)
    return replace(decision, reason="prompt_length" if decision.handoff_requested else None)


def uniform_draw(seed_key: str) -> float:
    """A number in [0, 1) fixed by the key (sha256), so a replayed run draws the same."""
    digest = hashlib.sha256(seed_key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def random_policy(signals: Sequence[Signal], params: PolicyParams) -> Decision:
    """Baseline: hand off with probability `threshold` (default 0.5), drawn from seed_key."""
    probability = DEFAULT_RANDOM_THRESHOLD if params.threshold is None else params.threshold
    if not 0.0 <= probability <= 1.0:
        raise UsageError(f"The random policy's threshold is a probability between 0 and 1, not {probability}.")
    draw = uniform_draw(params.seed_key)
    return _decision(signals, "random", requested=draw < probability, stage="before", score=draw)


POLICIES: dict[str, Policy] = {
    "cascade": cascade,
    "always-local": always_local,
    "always-cloud": always_cloud,
    "length": length,
    "random": random_policy,
}


def register_policy(name: str, fn: Policy) -> None:
    """Add (or replace) a policy under `name`, e.g. for an experiment."""
    if not name or not callable(fn):
        raise ValueError("register_policy needs a non-empty name and a callable policy.")
    POLICIES[name] = fn


def reads_confidence_knob(name: str) -> bool:
    """The cascade and every learned policy read the confidence knob (a cell's --threshold, a value in [0, 1]);
    any other policy's --threshold is its own (prompt tokens for length, a probability for random)."""
    return name == "cascade" or takes_confidence_knob(name)


def takes_confidence_knob(name: str) -> bool:
    """A learned policy (the default router among them) reads the confidence knob as its cut (PolicyParams.threshold);
    the cascade reads it in its signal thresholds instead."""
    return bool(getattr(POLICIES.get(name), "takes_knob", False))


def with_knob(name: str, params: PolicyParams, th: Thresholds) -> PolicyParams:
    """The policy's parameters with the confidence knob (th.low_confidence) as its cut, for a policy that takes it
    and was given no threshold of its own, and th.early_margin as its mid-answer margin when it was given none:
    live %%hybrid (engine) and replay (experiments.replay) both go through here."""
    if params.early_margin is None and th.early_margin is not None:
        params = replace(params, early_margin=th.early_margin)
    if params.threshold is None and takes_confidence_knob(name):
        params = replace(params, threshold=th.low_confidence)
    return params


def decide(name: str, signals: Sequence[Signal], params: PolicyParams = PolicyParams()) -> Decision:
    """Run the named policy. Whatever it returns, the Decision carries every signal, in order,
    the policy's registered name, handoff_performed == (route == "cloud"), and no cloud
    route past a blocking signal (a registered policy cannot leak either)."""
    policy = POLICIES.get(name)
    if policy is None:
        raise UsageError(f"Unknown policy '{name}'; known policies: {', '.join(sorted(POLICIES))}.")
    decision = policy(signals, params)
    blocker = first_blocker(signals)
    if decision.route == "cloud" and blocker is not None:
        decision = replace(decision, route="local", handoff_requested=True, blocked_by=blocker.name)
    return replace(decision, policy=name, signals=ordered(signals), handoff_performed=decision.route == "cloud",
                   reason=_reason(decision, name, signals))


def _reason(decision: Decision, name: str, signals: Sequence[Signal]) -> str | None:
    """Why a handoff was requested: the policy's own reason, else the requesting signal, else the policy."""
    if not decision.handoff_requested:
        return None
    if decision.reason:
        return decision.reason
    requesting = requesting_signal(signals)
    return requesting.name if requesting else name
