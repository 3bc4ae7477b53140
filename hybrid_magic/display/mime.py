"""The provenance MIME bundle and the one-line summary of a run.

The bundle is saved in notebooks that get shared: it holds facts about the run
(route, signals, models, timings, cost) and never prompt text, answer text,
keys or full URLs.
"""
from __future__ import annotations

from typing import Any

import math

from ..router import signals as sig
from ..router.policy import CAVEAT_SIGNALS
from ..types import Decision, RunRecord, Signal, TokenEvent

MIME_TYPE = "application/vnd.hybrid-magic.run+json"
VERSION = 2  # 2 added handoff.reason: the deciding signal's name (null when no handoff was requested)
# and (a new key, no meaning changed) contributions: a learned policy's explanation, null for other policies;
# (new keys) timeline.watched.probability: its y axis is a probability, and under a learned policy timeline.watched
# is the policy's estimates where the driver asked it (signal: the policy's name, window: null), and (a new key)
# timeline.watched.early_threshold: the lower bar a mid-answer estimate must fall below to stop early (null: none);
# (a new key) caveats: the messages of the caveat signals that hold for this run (caveats()), [] when none
SHOWN_CONTRIBUTIONS = 3  # features a card names when it explains a learned decision


def _signal_dict(signal: Signal) -> dict[str, Any]:
    return {
        "name": signal.name, "stage": signal.stage,
        "value": _round(signal.value), "threshold": _round(signal.threshold),
        "triggered": signal.triggered, "message": signal.message,
        "blocks_handoff": signal.blocks_handoff, "available": signal.available,
    }


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def provenance_bundle(record: RunRecord, *, window: int = sig.Thresholds.window) -> dict[str, Any]:
    """The bundle; `window` is the rolling window (tokens) the run's during-signals used."""
    d = record.decision
    local = record.local
    cloud = record.cloud
    return {
        "version": VERSION,
        "magic": record.magic,
        "route": d.route,
        "policy": d.policy,
        "handoff": {"requested": d.handoff_requested, "performed": d.handoff_performed,
                    "blocked_by": d.blocked_by, "stage": d.stage, "reason": d.reason},
        "signals": [_signal_dict(s) for s in d.signals],
        "contributions": [{"feature": name, "log_odds": _round(value, 3)} for name, value in d.contributions] or None,
        "caveats": caveats(d),
        "local": None if local is None else {
            "backend": local.backend, "model": local.model,
            "prompt_tokens": local.prompt_tokens, "completion_tokens": local.completion_tokens,
            "ttft_s": _round(local.ttft_s), "tokens_per_s": _round(local.tokens_per_s, 2),
            "seconds": _round(local.seconds), "stopped_early": local.stopped_early,
            "finish_reason": local.finish_reason,
        },
        "cloud": None if cloud is None else {
            "model": cloud.model, "host": cloud.host,
            "prompt_tokens": cloud.prompt_tokens, "completion_tokens": cloud.completion_tokens,
            "ttft_s": _round(cloud.ttft_s), "seconds": _round(cloud.seconds),
            "cost_usd": None if cloud.cost_usd is None else round(cloud.cost_usd, 8),
        },
        "timeline": timeline_data(record, window),
        "interrupted": record.interrupted,
        "error": record.error,
        "run_id": record.run_id,
        "started_at": record.started_at,
    }


# what each watchable during-signal plots: (quantity, unit, the side of the threshold that triggers)
WATCHED = {
    "low_confidence": ("rolling mean token probability", "", "below"),
    "high_entropy": ("rolling mean token entropy", "nats", "above"),
    "repetition": ("tokens in a repeating loop", "tokens", "at_or_above"),
}


def watched_signal(decision: Decision) -> Signal | None:
    """The signal the timeline plots: the deciding one when it has a series, else low_confidence."""
    deciding = decision.reason_signal()
    if deciding is not None and deciding.name in WATCHED:
        return deciding
    return next((s for s in decision.signals if s.name == "low_confidence"), None)


ESTIMATE = "estimated chance the local answer is right"  # what a learned policy's timeline plots


def watched_data(decision: Decision, tokens: list[TokenEvent], window: int) -> dict[str, Any] | None:
    """What the timeline plots against which threshold: a learned policy's own estimates where the driver
    asked it (against its cut), else the watched during-signal after each token; None when nothing was measured."""
    if decision.estimates:
        series: list[float | None] = [None] * len(tokens)
        for index, estimate in decision.estimates:
            if 0 <= index < len(tokens):
                series[index] = _round(estimate)
        return {"signal": decision.policy, "quantity": ESTIMATE, "unit": "", "triggers": "below", "window": None,
                "probability": True, "series": series, "threshold": _round(decision.cut),
                "early_threshold": _round(decision.early_cut)}
    watched = watched_signal(decision)
    name = watched.name if watched is not None else "low_confidence"
    quantity, unit, triggers = WATCHED[name]
    series = watched_series(tokens, name, window)
    return None if all(v is None for v in series) else {
        "signal": name, "quantity": quantity, "unit": unit, "triggers": triggers, "window": window,
        "probability": name == "low_confidence", "series": series,
        "threshold": None if watched is None else _round(watched.threshold)}


def watched_series(tokens: list[TokenEvent], name: str, window: int) -> list[float | None]:
    """The watched value after each token, from the one DuringMonitor the live run used."""
    monitor = sig.DuringMonitor(sig.Thresholds(window=window), max_tokens=max(len(tokens), 1))
    values = []
    for event in tokens:
        monitor.observe(event, None)
        value = next(s.value for s in monitor.signals() if s.name == name)
        values.append(_round(value))
    return values


def _elapsed(record: RunRecord, n: int) -> list[float]:
    """Seconds from the local call to each token: TTFT, then the run's mean decode rate (estimated)."""
    local = record.local
    rate = local.tokens_per_s if local.tokens_per_s > 0 else None
    step = 1.0 / rate if rate else (local.seconds - local.ttft_s) / max(n - 1, 1)
    return [round(local.ttft_s + i * step, 3) for i in range(n)]


def timeline_data(record: RunRecord, window: int = sig.Thresholds.window) -> dict[str, Any] | None:
    """Per local token its probability and elapsed time, the watched series and threshold; no token text."""
    tokens = [t for t in record.tokens if t.is_generated]
    if record.local is None or not tokens:
        return None
    return {
        "probabilities": [None if t.logprob is None else round(math.exp(t.logprob), 3) for t in tokens],
        "elapsed_s": _elapsed(record, len(tokens)),
        "elapsed": "estimated from TTFT and the mean decode rate",
        "watched": watched_data(record.decision, tokens, window),
        "stop": {"index": len(tokens) - 1, "reason": record.local.finish_reason or "stop",
                 "early": record.local.stopped_early},
    }


def cost_text(cost_usd: float | None) -> str:
    """Unknown is said as such, never shown as $0."""
    return "cost unknown" if cost_usd is None else f"${cost_usd:.6f}"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def reason_text(record: RunRecord) -> str:
    """The 'why' in a few words: 'low_confidence 0.31 < 0.50', 'blocked · private'."""
    d = record.decision
    if d.blocked_by:
        return f"handoff blocked · {d.blocked_by}" if d.blocked_by != "cloud_error" else "handoff failed · cloud error"
    deciding = d.reason_signal()
    if d.route == "cloud" and deciding is not None:
        return f"{deciding.name} {_fmt(deciding.value)} vs {_fmt(deciding.threshold)}"
    return d.reason if d.route == "cloud" and d.reason else ""


def contributions_text(decision: Decision) -> str:
    """A learned decision's top features in log-odds of a right local answer, e.g.
    'answer_estimate -1.20, hidden_states -0.80, prompt_length +0.30' ('' for other policies)."""
    top = decision.contributions[:SHOWN_CONTRIBUTIONS]
    return ", ".join(f"{name} {value:+.2f}" for name, value in top)


def learned_lines(decision: Decision) -> list[str]:
    """What a card says about a learned decision: its top features, and hidden states it could not read."""
    if not decision.contributions:
        return []
    lines = [f"policy {decision.policy} (log-odds of a right local answer): {contributions_text(decision)}"]
    missing = next((s for s in decision.signals if s.name == "hidden_states" and not s.available), None)
    if missing is not None:
        lines.append(f"hidden-state terms {missing.message}")
    return lines


def caveats(decision: Decision) -> list[str]:
    """The messages of the caveat signals (router.policy.CAVEAT_SIGNALS) that hold for this decision: what the card
    says about how little its estimate may mean here."""
    return [s.message for s in decision.signals if s.name in CAVEAT_SIGNALS and s.available and s.value == 1.0]


def summary_line(record: RunRecord) -> str:
    """One line a user reads in any front end, e.g. in a plain-text export."""
    d, local, cloud = record.decision, record.local, record.cloud
    parts = [f"[hybrid_magic] %%{record.magic} → {d.route}"]
    why = reason_text(record)
    if why:
        parts.append(why)
    if d.contributions:
        parts.append(f"learned: {contributions_text(d)}")
    if local is not None:
        early = ", stopped early" if local.stopped_early else ""
        parts.append(f"local {local.model} ({local.backend}): {local.completion_tokens} tok, "
                     f"{local.tokens_per_s:.1f} tok/s, TTFT {local.ttft_s:.2f}s{early}")
    if cloud is not None:
        parts.append(f"cloud {cloud.model} @ {cloud.host}: {cloud.completion_tokens} tok, {cost_text(cloud.cost_usd)}")
    if record.interrupted:
        parts.append("INTERRUPTED")
    if record.error:
        parts.append(record.error)
    return " · ".join(parts)
