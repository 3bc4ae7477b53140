"""Leave-family-out evaluation: how a router does on kinds of prompt that never chose its weights.

    risk = leave_family_out_risk(recs, fit)      # each item scored by a fit that never saw its family
    family_table(recs, {"default": risk, ...})   # AUROC and share of achievable gain per family,
                                                 # the mean and the worst family, and all pooled

`fit(train_recs)` returns a function `recs -> risk per item` (higher = hand off first).
A family where the local model is always right (or always wrong) has no AUROC and is
left out of the mean and worst rows; its row says so with NaN.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .metrics import router_summary
from .replay import Recorded

Fit = Callable[[list[Recorded]], Callable[[list[Recorded]], np.ndarray]]


def family_of(rec: Recorded) -> str:
    return str(rec.item.get("family") or rec.item.get("category") or "unlabelled")


def leave_family_out_risk(recs: Sequence[Recorded], fit: Fit) -> np.ndarray:
    """Risk per item from a router fitted on every other family."""
    families = np.array([family_of(r) for r in recs])
    risk = np.full(len(recs), np.nan)
    for name in sorted(set(families)):
        held = families == name
        score = fit([r for r, h in zip(recs, held) if not h])
        risk[held] = score([r for r, h in zip(recs, held) if h])
    return risk


def family_table(recs: Sequence[Recorded], risks: dict[str, Sequence[float]]):
    """One row per family (n, local accuracy, then AUROC and gain share per router), plus mean, worst and
    pooled (all families in one mix)."""
    import pandas as pd

    families = np.array([family_of(r) for r in recs])
    local = np.array([r.local_score for r in recs])
    cloud = np.array([r.cloud_score for r in recs])
    rows = []
    for name in sorted(set(families)):
        held = families == name
        row = {"family": name, "n": int(held.sum()), "local_accuracy": float((local[held] >= 0.5).mean())}
        for router, risk in risks.items():
            summary = router_summary(np.asarray(risk, dtype=float)[held], local[held], cloud[held])
            row[f"auroc:{router}"], row[f"gain:{router}"] = summary["auroc"], summary["gain_share"]
        rows.append(row)
    table = pd.DataFrame(rows).set_index("family")
    scored = table.drop(columns=["n", "local_accuracy"])
    table.loc["mean"] = {"n": table.n.sum(), "local_accuracy": float((local >= 0.5).mean()), **scored.mean()}
    table.loc["worst"] = {"n": np.nan, "local_accuracy": np.nan, **scored.min()}
    pooled = {}
    for router, risk in risks.items():  # every family in one mix, as a set of many kinds of prompt is
        summary = router_summary(np.asarray(risk, dtype=float), local, cloud)
        pooled[f"auroc:{router}"], pooled[f"gain:{router}"] = summary["auroc"], summary["gain_share"]
    table.loc["pooled"] = {"n": len(recs), "local_accuracy": float((local >= 0.5).mean()), **pooled}
    return table
