"""Routing metrics with RouteLLM's definitions (Ong et al., 2024).

- PGR, performance gap recovered: (quality - local) / (cloud - local), where
  `local` and `cloud` are the qualities of always-local and always-cloud.
- APGR: the area under the (cloud-call share, PGR) curve, share from 0 to 1.
  A random router scores 0.5; a perfect one 1 - (share of items it must send) / 2.
- CPT(x): the smallest cloud-call share whose PGR reaches x (e.g. 0.5 for CPT(50%)).
- AUROC: how well a risk score ranks the items the local model got wrong above
  those it got right (0.5 = chance, 1 = perfect), ties counting one half.

A router is given as a risk score per item (higher = hand off first); items with
equal risk are handed off together, which equals the average over random
tie-breaking, so a constant score is exactly the random router.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RANDOM_APGR = 0.5
ORACLE_LABEL = "upper bound (oracle cloud)"


def _risk(values: Sequence[float]) -> np.ndarray:
    """Risk as floats; a missing value (NaN) ranks lowest: such an item is handed off last."""
    risk = np.asarray(values, dtype=float)
    return np.where(np.isnan(risk), -np.inf, risk)


def auroc(risk: Sequence[float], positive: Sequence[bool]) -> float:
    """P(risk of a positive > risk of a negative), ties 1/2; NaN with one class only."""
    risk, positive = _risk(risk), np.asarray(positive, dtype=bool)
    pos, neg = risk[positive], risk[~positive]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def roc_points(risk: Sequence[float], positive: Sequence[bool]) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate) at every distinct risk cut, from (0,0) to (1,1)."""
    risk, positive = _risk(risk), np.asarray(positive, dtype=bool)
    fpr, tpr = [0.0], [0.0]
    for cut in np.unique(risk)[::-1]:
        flagged = risk >= cut
        tpr.append(flagged[positive].mean() if positive.any() else 0.0)
        fpr.append(flagged[~positive].mean() if (~positive).any() else 0.0)
    return np.asarray(fpr), np.asarray(tpr)


def routing_curve(risk: Sequence[float], local: Sequence[float], cloud: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """(cloud-call share, mean quality) when handing off the riskiest items first.

    One point per group of equal risk, plus the all-local start point.
    """
    risk, local, cloud = _risk(risk), np.asarray(local, dtype=float), np.asarray(cloud, dtype=float)
    n = len(risk)
    shares, quality = [0.0], [local.mean() if n else float("nan")]
    handed = np.zeros(n, dtype=bool)
    for cut in np.unique(risk)[::-1]:
        handed |= risk >= cut
        shares.append(handed.mean())
        quality.append(np.where(handed, cloud, local).mean())
    return np.asarray(shares), np.asarray(quality)


def pgr(quality: np.ndarray | float, weak: float, strong: float) -> np.ndarray | float:
    """Performance gap recovered; NaN when the cloud is no better than the local model."""
    gap = strong - weak
    if gap <= 0:
        return np.full_like(np.asarray(quality, dtype=float), np.nan)
    return (np.asarray(quality, dtype=float) - weak) / gap


def area_under(shares: Sequence[float], values: Sequence[float]) -> float:
    """Trapezoid area over share 0..1; points are sorted by share first."""
    shares, values = np.asarray(shares, dtype=float), np.asarray(values, dtype=float)
    order = np.argsort(shares, kind="stable")
    shares, values = shares[order], values[order]
    return float(np.sum(np.diff(shares) * (values[1:] + values[:-1]) / 2))


def apgr(risk: Sequence[float], local: Sequence[float], cloud: Sequence[float]) -> float:
    """APGR of a router given as a risk score per item."""
    shares, quality = routing_curve(risk, local, cloud)
    return area_under(shares, pgr(quality, float(np.mean(local)), float(np.mean(cloud))))


def perfect_apgr(local: Sequence[float], cloud: Sequence[float]) -> float:
    """The best any router can do: send first the items where the cloud gains most."""
    gain = np.asarray(cloud, dtype=float) - np.asarray(local, dtype=float)
    return apgr(gain, local, cloud)


def apgr_from_points(shares: Sequence[float], quality: Sequence[float], weak: float, strong: float) -> float:
    """APGR of a threshold sweep: its (share, quality) points plus the two end points."""
    all_shares = np.concatenate([[0.0], np.asarray(shares, dtype=float), [1.0]])
    all_quality = np.concatenate([[weak], np.asarray(quality, dtype=float), [strong]])
    return area_under(all_shares, pgr(all_quality, weak, strong))


def cpt(shares: Sequence[float], pgrs: Sequence[float], target: float) -> float:
    """Smallest cloud-call share reaching PGR >= target on the linearly joined curve; NaN if never."""
    shares, pgrs = np.asarray(shares, dtype=float), np.asarray(pgrs, dtype=float)
    order = np.argsort(shares, kind="stable")
    shares, pgrs = shares[order], pgrs[order]
    for i in range(len(shares)):
        if pgrs[i] >= target - 1e-12:
            if i == 0 or pgrs[i - 1] >= pgrs[i]:
                return float(shares[i])
            fraction = (target - pgrs[i - 1]) / (pgrs[i] - pgrs[i - 1])
            return float(shares[i - 1] + max(fraction, 0.0) * (shares[i] - shares[i - 1]))
    return float("nan")


def router_summary(risk: Sequence[float], local: Sequence[float], cloud: Sequence[float]) -> dict[str, float]:
    """APGR, CPT(50/80/95%), AUROC for local errors, share of achievable gain."""
    shares, quality = routing_curve(risk, local, cloud)
    pgrs = pgr(quality, float(np.mean(local)), float(np.mean(cloud)))
    value, best = area_under(shares, pgrs), perfect_apgr(local, cloud)
    wrong = np.asarray(local, dtype=float) < 0.5
    return {
        "apgr": value,
        "cpt50": cpt(shares, pgrs, 0.5),
        "cpt80": cpt(shares, pgrs, 0.8),
        "cpt95": cpt(shares, pgrs, 0.95),
        "auroc": auroc(risk, wrong),
        "perfect_apgr": best,
        "gain_share": achievable_gain_share(value, best),
    }


def achievable_gain_share(value: float, perfect: float, random: float = RANDOM_APGR) -> float:
    """(APGR - random) / (perfect - random): 0 = no better than chance, 1 = perfect router."""
    if perfect - random <= 0:
        return float("nan")
    return float((value - random) / (perfect - random))
