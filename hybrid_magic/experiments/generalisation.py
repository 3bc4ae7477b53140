"""Leave-family-out evaluation: how a router does on kinds of prompt that never chose its weights.

    risk = leave_family_out_risk(recs, fit)      # each item scored by a fit that never saw its family
    family_table(recs, {"default": risk, ...})   # AUROC and share of achievable gain per family,
                                                 # the mean and the worst family, and all pooled
    mix_table(recs, {"default": fit, ...})       # random mixes of families, each scored by a fit
                                                 # that saw none of the mix's families

`fit(train_recs)` returns a function `recs -> risk per item` (higher = hand off first).
A family where the local model is always right (or always wrong) has no AUROC and is
left out of the mean and worst rows; its row says so with NaN.
"""
from __future__ import annotations

import random
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


def fixed_risk(recs: Sequence[Recorded], risk: Sequence[float]) -> Fit:
    """A router that learns nothing (the shipped default): its risk per item, as a fit."""
    index = {id(r): i for i, r in enumerate(recs)}
    values = np.asarray(risk, dtype=float)
    return lambda _train: (lambda test: values[[index[id(r)] for r in test]])


def random_mixes(recs: Sequence[Recorded], size: int, n_mixes: int, seed: int = 0) -> list[list[str]]:
    """`n_mixes` sets of `size` families drawn at random (fixed by the seed)."""
    names = sorted({family_of(r) for r in recs})
    return [sorted(random.Random(f"{seed}:{k}").sample(names, size)) for k in range(n_mixes)]


def mix_table(recs: Sequence[Recorded], fits: dict[str, Fit], size: int = 9, n_mixes: int = 100, seed: int = 0):
    """Per router: AUROC and share of achievable gain on random mixes of `size` families (mean, 10th
    percentile, worst), each mix scored by a fit on the families outside it, as an unseen set of many kinds is."""
    import pandas as pd

    local = np.array([r.local_score for r in recs])
    cloud = np.array([r.cloud_score for r in recs])
    families = np.array([family_of(r) for r in recs])
    rows = {name: [] for name in fits}
    for mix in random_mixes(recs, size, n_mixes, seed):
        inside = np.isin(families, mix)
        train = [r for r, i in zip(recs, inside) if not i]
        test = [r for r, i in zip(recs, inside) if i]
        for name, fit in fits.items():
            summary = router_summary(np.asarray(fit(train)(test), dtype=float), local[inside], cloud[inside])
            rows[name].append((summary["auroc"], summary["gain_share"]))
    table = {}
    for name, values in rows.items():
        scores = np.array(values, dtype=float)
        table[name] = {"auroc_mean": np.nanmean(scores[:, 0]), "auroc_p10": np.nanpercentile(scores[:, 0], 10),
                       "auroc_worst": np.nanmin(scores[:, 0]), "gain_mean": np.nanmean(scores[:, 1]),
                       "gain_worst": np.nanmin(scores[:, 1])}
    return pd.DataFrame(table).T
