"""Tables built from recorded runs: results per item, router metrics, calibration, reasons."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UsageError
from ..router import signals as sig
from ..router.answer_fit import NAMES as ANSWER_FIT
from ..types import DEFAULT_POLICY
from . import replay
from .features import FEATURE_DIRECTIONS, token_features
from .metrics import ORACLE_LABEL, roc_points, router_summary, auroc

# +1: a higher value means the local answer is more likely wrong; -1: the opposite
SIGNAL_DIRECTIONS = {"low_confidence": -1, "high_entropy": 1, "repetition": 1, "truncated": 1, "refusal": 1,
                     "format": -1, "self_check": -1, "prompt_length": 1, "context_overflow": 1,
                     "asks_how_many": 1, "offers_choice": -1, "wh_question": -1,
                     "answer_confidence": -1, "answer_estimate": -1, "arithmetic": 1,
                     **{name: 1 for name in ANSWER_FIT}}
DEFAULT_POLICY_ROW = f"{DEFAULT_POLICY} (default policy)"
CASCADE_ROW = "cascade (the signal cascade)"


def default_decision(rec: replay.Recorded, th: sig.Thresholds, policy: str = DEFAULT_POLICY) -> replay.Verdict:
    return replay.replay_item(rec, policy, th, rec.params())


def results_table(recs: list[replay.Recorded], th: sig.Thresholds, cloud_mode: str):
    import pandas as pd

    return pd.DataFrame([_result_row(rec, th, cloud_mode) for rec in recs])


def _result_row(rec: replay.Recorded, th: sig.Thresholds, cloud_mode: str) -> dict:
    item, local, cloud = rec.item, rec.local, rec.cloud or {}
    timings, outcome = local["timings"], default_decision(rec, th)
    row = {"id": item["id"], "category": item.get("category"), "difficulty": item.get("difficulty"),
           "prompt": item["prompt"], "reference": str(item.get("reference")),
           "local_answer": local["text"], "local_score": rec.local_score, "local_correct": rec.local_score >= 0.5,
           "cloud_answer": cloud.get("text"), "cloud_score": rec.cloud_score, "cloud_mode": cloud_mode,
           "route": outcome.route, "handoff_stage": outcome.decision.stage, "handoff_reason": outcome.decision.reason,
           "early_stop_token": outcome.stop_index, "finish_reason": local["finish_reason"],
           "prompt_tokens": local["prompt_tokens"], "local_tokens": timings.get("completion_tokens"),
           "local_seconds": timings.get("seconds"), "local_ttft_s": timings.get("ttft_s"),
           "local_tokens_per_s": timings.get("tokens_per_s"), "cloud_tokens": cloud.get("completion_tokens"),
           "cloud_seconds": cloud.get("seconds"), "cost_usd": cloud.get("cost_usd"), "p_yes": local.get("p_yes")}
    for s in replay.answer_signals(rec, th, self_check=True):
        row[f"signal.{s.name}"] = s.value
        row[f"triggered.{s.name}"] = s.triggered
    for name, value in token_features(local["tokens"], local["finish_reason"]).items():
        row[f"feature.{name}"] = value
    return row


def risk_scores(recs: list[replay.Recorded], th: sig.Thresholds) -> dict[str, np.ndarray]:
    """Each router as a risk per item: the default policy, every signal, every token feature."""
    risks = {DEFAULT_POLICY_ROW: replay.policy_risk(recs, DEFAULT_POLICY, th),
             CASCADE_ROW: replay.policy_risk(recs, "cascade", th)}
    signal_rows = [{s.name: s.value for s in replay.answer_signals(rec, th, self_check=True)} for rec in recs]
    for name, direction in SIGNAL_DIRECTIONS.items():
        values = np.array([np.nan if row.get(name) is None else row[name] for row in signal_rows], dtype=float)
        if np.isfinite(values).any() and np.nanstd(values) > 0:
            risks[f"signal:{name}"] = direction * values
    feature_rows = [token_features(rec.local["tokens"], rec.local["finish_reason"]) for rec in recs]
    for name, direction in FEATURE_DIRECTIONS.items():
        values = np.array([row[name] for row in feature_rows], dtype=float)
        if np.isfinite(values).any() and np.nanstd(values) > 0:
            risks[f"feature:{name}"] = direction * values
    return risks


def router_table(recs: list[replay.Recorded], th: sig.Thresholds, cloud_mode: str):
    """APGR, CPT(50/80/95%), AUROC and share of achievable gain for every router."""
    import pandas as pd

    local = np.array([r.local_score for r in recs])
    cloud = np.array([r.cloud_score for r in recs])
    routers = dict(risk_scores(recs, th))
    routers["random"] = np.zeros(len(recs))  # one tie group: exactly the random router
    routers["perfect"] = cloud - local
    rows = [{"router": name, **router_summary(risk, local, cloud)} for name, risk in routers.items()]
    table = pd.DataFrame(rows)
    table.insert(1, "local_accuracy", float(np.mean(local >= 0.5)))
    table["cloud_mode"] = cloud_mode
    return table


def roc_curves(recs: list[replay.Recorded], th: sig.Thresholds) -> dict[str, tuple]:
    wrong = np.array([r.local_score < 0.5 for r in recs])
    return {name: (*roc_points(risk, wrong), auroc(risk, wrong)) for name, risk in risk_scores(recs, th).items()}


def handoff_reasons(recs: list[replay.Recorded], policy: str, th: sig.Thresholds) -> dict[str, int]:
    counts: dict[str, int] = {}
    for rec in recs:
        reason = default_decision(rec, th, policy).decision.reason
        if reason is not None:
            counts[reason] = counts.get(reason, 0) + 1
    return counts


@dataclass(frozen=True)
class Calibration:
    policy: str
    threshold: float
    handoff_rate: float
    quality: float
    pgr: float
    cloud_mode: str
    config_line: str

    def __str__(self) -> str:
        mode = f" [{ORACLE_LABEL}]" if self.cloud_mode == ORACLE_LABEL else ""
        return (f"{self.policy} at threshold {self.threshold:g}: handoff rate {self.handoff_rate:.0%}, "
                f"quality {self.quality:.3f}{mode}. Apply with: {self.config_line}")


def calibrate(recs, policy: str, th: sig.Thresholds, target_quality: float | None,
              target_handoff_rate: float | None) -> Calibration:
    if (target_quality is None) == (target_handoff_rate is None):
        raise UsageError("calibrate() needs exactly one of target_quality= or target_handoff_rate=.")
    if policy in replay.BASELINES:
        table = replay.sweep(recs, policy, None, th, baselines=False).dropna(subset=["threshold"])
    else:  # a knob every cut rises with: each item's lowest handing-off knob gives every row
        table = replay.knob_sweep(recs, policy, th)
    if table.empty:
        raise UsageError(f"The {policy} policy has no threshold to calibrate.")
    if target_quality is not None:
        fit = table[table.quality >= target_quality].sort_values(["handoff_rate", "threshold"])
        if fit.empty:
            raise UsageError(f"No threshold reaches quality {target_quality}; the best is {table.quality.max():.3f}.")
    else:
        fit = table[table.handoff_rate <= target_handoff_rate].sort_values(
            ["quality", "handoff_rate"], ascending=[False, True])
        if fit.empty:
            fit = table.sort_values("handoff_rate")
    best = fit.iloc[0]
    line = f"%config HybridMagics.threshold = {best.threshold:g}"
    if policy != DEFAULT_POLICY:
        line = f"%config HybridMagics.policy = {policy!r}\n{line}"
    return Calibration(policy, float(best.threshold), float(best.handoff_rate), float(best.quality),
                       float(best.pgr), str(best.cloud_mode), line)
