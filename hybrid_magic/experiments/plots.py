"""Matplotlib figures for experiments: cost-quality curve, per-signal ROC, handoff reasons.

Each function draws on `ax` (or a new figure) and returns the Axes. Results from an
oracle cloud carry the "upper bound (oracle cloud)" label in the title.
"""
from __future__ import annotations

from typing import Any

from .metrics import ORACLE_LABEL

_BASELINE_STYLE = {"always-local": "s", "always-cloud": "D", "random": "x", "length": "^"}


def _axes(ax: Any, title: str):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6, 4))
    ax.set_title(title, fontsize=10)
    return ax


def _mode_suffix(oracle: bool) -> str:
    return f" — {ORACLE_LABEL}" if oracle else ""


def plot_cost_quality(sweep, chosen: dict | None = None, *, x: str = "handoff_rate", oracle: bool = False, ax=None):
    """Quality against cloud-call share (or `x="cost_usd"`), one line per policy."""
    ax = _axes(ax, f"Cost–quality{_mode_suffix(oracle)}")
    for policy, rows in sweep.groupby("policy", sort=False):
        rows = rows.sort_values(x)
        if policy in ("always-local", "always-cloud"):
            ax.scatter(rows[x], rows["quality"], marker=_BASELINE_STYLE[policy], s=50, label=policy, zorder=3)
        else:
            ax.plot(rows[x], rows["quality"], marker=_BASELINE_STYLE.get(policy, "o"), ms=4, label=policy)
    if chosen is not None:
        ax.scatter([chosen[x]], [chosen["quality"]], s=180, facecolors="none", edgecolors="red",
                   linewidths=2, zorder=4, label=f"chosen (threshold {chosen['threshold']:.3g})")
    ax.set_xlabel("cloud-call share" if x == "handoff_rate" else x)
    ax.set_ylabel("quality (mean score)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def plot_roc(curves: dict[str, tuple[Any, Any, float]], *, oracle: bool = False, top: int = 8,
             always: tuple[str, ...] = ("cascade (default policy)",), ax=None):
    """ROC per signal, {name: (false positive rate, true positive rate, AUROC)}: the `top` best
    by AUROC plus those named in `always`. Points are joined linearly (ties = random order)."""
    ax = _axes(ax, f"Signals predicting a wrong local answer{_mode_suffix(oracle)}")
    ranked = sorted(curves.items(), key=lambda kv: -_sortable(kv[1][2]))
    shown = [kv for i, kv in enumerate(ranked) if i < top or kv[0] in always]
    for name, (fpr, tpr, area) in shown:
        width = 2.5 if name in always else 1.2
        ax.plot(fpr, tpr, lw=width, label=f"{name} (AUROC {area:.2f})")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="chance")
    ax.set_xlabel("false positive rate (right answers flagged)")
    ax.set_ylabel("true positive rate (wrong answers flagged)")
    ax.legend(fontsize=7)
    return ax


def plot_handoff_reasons(counts: dict[str, int], *, oracle: bool = False, ax=None):
    """How often each signal (or policy) requested the handoff."""
    ax = _axes(ax, f"Handoff reasons{_mode_suffix(oracle)}")
    ordered = sorted(counts.items(), key=lambda kv: -kv[1])
    names = [name for name, _ in ordered] or ["(no handoff)"]
    values = [value for _, value in ordered] or [0]
    ax.barh(names, values)
    ax.invert_yaxis()
    ax.set_xlabel("items handed off")
    return ax


def _sortable(value: float) -> float:
    return value if value == value else -1.0
