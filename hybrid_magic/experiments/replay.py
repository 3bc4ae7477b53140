"""Replay routing policies over recorded runs: no model call, any threshold.

For each item and threshold the recorded tokens run through the cascade driver
(cascade.py) with the STOP rule, the code live %%hybrid runs: the same
before -> during (a firing signal the policy accepts stops the local model) ->
after -> decide. A sweep reports, per threshold: cloud-call share, quality, PGR, cost,
latency and how many handoffs were early.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np

from ..cascade import (NEVER, STOP, Budget, Prepared, PromptFacts, RecordedSource, Rules, Verdict, before_signals,
                       run_cascade)
from ..model_handoff import Offer
from ..prompt import asked_tokens, question_of
from ..router import signals as sig
from ..router.answer_terms import answer_hook
from ..router.policy import PolicyParams, with_knob
from ..router.states import prompt_state as carried_state, state_hook
from ..types import DEFAULT_POLICY, PromptState, Signal, TokenEvent
from .datasets import item_chat
from .metrics import ORACLE_LABEL, apgr_from_points, pgr

BASELINES = ("always-local", "always-cloud", "random", "length")
CONFIDENCE_GRID = tuple(np.round(np.linspace(0.0, 1.0, 101), 2))


@dataclass
class Recorded:
    """One item with its stored local (and cloud) generation and their scores."""

    item: dict
    local: dict
    cloud: dict | None
    local_score: float
    cloud_score: float  # 1.0 under the oracle cloud
    max_tokens: int
    system: str | None = None
    events: list[TokenEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.events = [event_from_dict(d) for d in self.local["tokens"]]

    @cached_property
    def prompt_state(self) -> PromptState | None:
        """The prompt's hidden state recorded with the first token (transformers, with the weights' fingerprint),
        else None."""
        return carried_state(self.events)

    @property
    def state(self):
        """That state's vector, else None."""
        return None if self.prompt_state is None else self.prompt_state.vector

    def params(self, threshold: float | None = None) -> PolicyParams:
        """The policy's inputs for this item as live %%hybrid gives them: the knob, and the prompt as the
        random baseline's seed (live: the cell's prompt)."""
        return PolicyParams(threshold=threshold, seed_key=str(self.item["prompt"]))

    @property
    def fmt(self) -> str:
        return self.item.get("format", "text")

    def source(self) -> RecordedSource:
        """The recorded tokens, with their seconds, as a token source for the cascade driver."""
        elapsed = [d.get("t") for d in self.local["tokens"]]
        return RecordedSource(self.events, elapsed, int(self.local.get("max_tokens") or self.max_tokens))

    @property
    def question_tokens(self) -> int:
        """What prompt_length reports for this item; a recording from before it was stored: the prompt as sent."""
        return int(asked_tokens(self.local.get("question_tokens"), self.local["prompt_tokens"]))

    def prepared(self, th: sig.Thresholds) -> Prepared:
        """The before-signals live %%hybrid computes for this prompt (cloud reachable, no budget set)."""
        messages = item_chat(self.item, self.system)
        facts = PromptFacts("\n".join(m["content"] for m in messages), int(self.local["prompt_tokens"]),
                            self.max_tokens, th.context_budget or int(self.local.get("context_length") or 0),
                            budget=Budget(0.0, None, 0.0), question_tokens=self.question_tokens,
                            question=question_of(messages))
        return Prepared(messages, None, Offer(self.local.get("offer")), facts, before_signals(facts))


def event_to_dict(event: TokenEvent, elapsed_s: float | None) -> dict[str, Any]:
    stored = {"text": event.text, "token_id": event.token_id, "logprob": event.logprob, "entropy": event.entropy,
              "top": [list(pair) for pair in event.top_logprobs], "finish_reason": event.finish_reason,
              "t": elapsed_s}
    if event.prompt_state is not None:
        stored["prompt_state"] = {"model": event.prompt_state.model, "vector": list(event.prompt_state.vector)}
    return stored


def event_from_dict(d: dict[str, Any]) -> TokenEvent:
    state = d.get("prompt_state")
    return TokenEvent(text=d["text"], token_id=d.get("token_id"), logprob=d.get("logprob"),
                      entropy=d.get("entropy"), top_logprobs=tuple((str(a), float(b)) for a, b in d.get("top") or ()),
                      finish_reason=d.get("finish_reason"),
                      prompt_state=PromptState(state["model"], tuple(state["vector"])) if state else None)


def _drive(rec: Recorded, rules: Rules, stop: str, self_check: bool) -> Verdict:
    p_yes = (lambda _answer: rec.local.get("p_yes")) if self_check else None
    states = state_hook(rules.policy, "no hidden state was recorded with this item's tokens")
    return run_cascade(rec.prepared(rules.thresholds), rules, lambda _first: rec.source(), stop, p_yes=p_yes,
                       states=states, answer=answer_hook(rules.policy))


def replay_item(rec: Recorded, policy: str, th: sig.Thresholds, params: PolicyParams, *,
                self_check: bool = False, early_handoff: bool = True) -> Verdict:
    """The decision live %%hybrid makes on these tokens: the cascade driver, STOP rule, recorded source; a policy
    that takes the confidence knob and has no threshold in `params` cuts at th.low_confidence, as live."""
    return _drive(rec, Rules(policy, with_knob(policy, params, th), th, early_handoff, rec.fmt), STOP,
                  self_check)


def answer_signals(rec: Recorded, th: sig.Thresholds, self_check: bool = False) -> list[Signal]:
    """Every signal over the whole local answer (nothing stops it); the recorded self-check when asked."""
    verdict = _drive(rec, Rules(thresholds=th, fmt=rec.fmt), NEVER, self_check)
    return verdict.before + verdict.local.during + verdict.local.after


def _latency(rec: Recorded, outcome: Verdict) -> float:
    local_s = float(rec.local["timings"]["seconds"])
    if outcome.route == "local":
        return local_s
    cloud_s = float(rec.cloud["seconds"]) if rec.cloud else float("nan")
    if outcome.decision.stage == "before":
        return cloud_s
    if outcome.stop_index is not None:
        return float(rec.local["tokens"][outcome.stop_index]["t"] or 0.0) + cloud_s
    return local_s + cloud_s


def _cost(rec: Recorded, outcome: Verdict) -> float:
    if outcome.route == "local":
        return 0.0
    cost = rec.cloud.get("cost_usd") if rec.cloud else None
    return float("nan") if cost is None else float(cost)


def evaluate(recs: list[Recorded], policy: str, th: sig.Thresholds, threshold: float | None) -> dict[str, Any]:
    """One sweep row: the policy at one threshold over every recorded item."""
    outcomes = [replay_item(r, policy, th, r.params(threshold))
                for r in recs]
    cloud = np.array([o.route == "cloud" for o in outcomes])
    local_tokens = [o.stop_index + 1 if o.stop_index is not None else 0 if o.decision.stage == "before"
                    else len(r.events) for r, o in zip(recs, outcomes)]
    return {
        "policy": policy, "threshold": np.nan if threshold is None else threshold, **_routed(recs, cloud),
        "early_handoff_rate": np.mean([o.route == "cloud" and o.stop_index is not None for o in outcomes]),
        "cost_usd": float(np.sum([_cost(r, o) for r, o in zip(recs, outcomes)])),
        "latency_s": float(np.mean([_latency(r, o) for r, o in zip(recs, outcomes)])),
        "local_tokens": int(np.sum(local_tokens)),
        "cloud_mode": ORACLE_LABEL if recs and recs[0].cloud is None else "measured cloud",
    }


def _routed(recs: list[Recorded], cloud: np.ndarray) -> dict[str, float]:
    """A sweep row's handoff rate, quality and PGR when the items marked in `cloud` are handed off."""
    quality = np.where(cloud, [r.cloud_score for r in recs], [r.local_score for r in recs])
    weak, strong = np.mean([r.local_score for r in recs]), np.mean([r.cloud_score for r in recs])
    return {"handoff_rate": cloud.mean(), "quality": quality.mean(), "pgr": float(pgr(quality.mean(), weak, strong))}


def default_grid(recs: list[Recorded], policy: str) -> list[float | None]:
    if policy in ("always-local", "always-cloud"):
        return [None]
    if policy == "random":
        return [float(x) for x in np.round(np.linspace(0, 1, 11), 2)]
    if policy == "length":
        lengths = sorted({r.question_tokens for r in recs})
        return [lengths[0] - 1.0] + [n + 0.5 for n in lengths]
    return [float(x) for x in np.round(np.linspace(0, 1, 21), 2)]


def thresholds_for(policy: str, th: sig.Thresholds, threshold: float | None) -> sig.Thresholds:
    """Policies without a threshold of their own take it as the low_confidence threshold."""
    if threshold is None or policy in BASELINES:
        return th
    return replace(th, low_confidence=float(threshold))


def sweep(recs: list[Recorded], policy: str, thresholds=None, th: sig.Thresholds | None = None,
          baselines: bool = True):
    """Rows for `policy` at each threshold, plus the four baselines, as a DataFrame."""
    import pandas as pd

    th = th or sig.Thresholds()
    rows = []
    names = [policy] + ([b for b in BASELINES if b != policy] if baselines else [])
    for name in names:
        grid = thresholds if (name == policy and thresholds is not None) else default_grid(recs, name)
        rows += [evaluate(recs, name, thresholds_for(name, th, t), t) for t in grid]
    return pd.DataFrame(rows)


def sweep_apgr(table) -> dict[str, float]:
    """APGR of each policy's (share, quality) points in a sweep, end points added."""
    weak = float(table.loc[table.policy == "always-local", "quality"].iloc[0])
    strong = float(table.loc[table.policy == "always-cloud", "quality"].iloc[0])
    return {name: apgr_from_points(rows.handoff_rate, rows.quality, weak, strong)
            for name, rows in table.groupby("policy", sort=False)}


def policy_risk(recs: list[Recorded], policy: str = DEFAULT_POLICY, th: sig.Thresholds | None = None,
                grid=CONFIDENCE_GRID) -> np.ndarray:
    """Risk per item = 1 - the lowest confidence knob at which the policy hands it off
    (-1 when no knob does): the policy's own ranking, for AUROC and APGR."""
    lowest = lowest_knobs(recs, policy, th, grid)
    return np.where(lowest >= 0, 1.0 - np.asarray(grid, dtype=float)[lowest.clip(min=0)], -1.0)


def lowest_knobs(recs: list[Recorded], policy: str, th: sig.Thresholds | None = None,
                 grid=CONFIDENCE_GRID) -> np.ndarray:
    """Per item, the index in `grid` of the lowest confidence knob at which the policy hands it off (-1 when no knob
    does). The knob moves as a sweep row moves it (thresholds_for, and the policy's own threshold: a learned
    policy's cut). Every cut the knob moves rises with it, so a higher knob hands off what a lower one did (for a
    learned policy it also moves the streaming cut that decides at which tokens it is asked, which could in
    principle break this; bisection and the full scan gave identical risks on every recorded set checked), and the
    lowest one is found by bisection."""
    th = th or sig.Thresholds()
    lowest = np.full(len(recs), -1)
    for i, rec in enumerate(recs):
        def hands_off(k: int) -> bool:
            knob = float(grid[k])
            return replay_item(rec, policy, thresholds_for(policy, th, knob), rec.params(knob)).route == "cloud"

        if not hands_off(len(grid) - 1):
            continue
        low, high = 0, len(grid) - 1  # the lowest knob that hands off lies in [low, high]
        while low < high:
            middle = (low + high) // 2
            low, high = (low, middle) if hands_off(middle) else (middle + 1, high)
        lowest[i] = low
    return lowest


def knob_sweep(recs: list[Recorded], policy: str, th: sig.Thresholds | None = None, grid=CONFIDENCE_GRID):
    """The handoff rate, quality and PGR of `policy` at each knob of `grid`, as `sweep` rows have them, read off
    each item's lowest handing-off knob (lowest_knobs: about 8 replays per item instead of one per knob)."""
    import pandas as pd

    lowest = lowest_knobs(recs, policy, th, grid)
    mode = ORACLE_LABEL if recs and recs[0].cloud is None else "measured cloud"
    return pd.DataFrame([{"policy": policy, "threshold": float(knob), **_routed(recs, (lowest >= 0) & (lowest <= k)),
                          "cloud_mode": mode} for k, knob in enumerate(grid)])
