"""Matplotlib figures for experiments: cost-quality curve, per-signal ROC, handoff reasons,
and small multiples of handoff timelines.

Each single-plot function draws on `ax` (or a new figure) and returns the Axes; plot_timelines
returns its Figure. Results from an oracle cloud carry the "upper bound (oracle cloud)" label in
the title. Axes say their units; sizes suit a one-column paper figure.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..types import DEFAULT_POLICY
from .metrics import ORACLE_LABEL

# baselines in greys with their own markers, so the routers under study keep the colours
_BASELINE_STYLE = {"always-local": {"marker": "s", "color": "#2e7d32"},
                   "always-cloud": {"marker": "D", "color": "#212121"},
                   "random": {"marker": "x", "color": "#9e9e9e", "ls": ":"},
                   "length": {"marker": "^", "color": "#757575", "ls": "--"}}


def _axes(ax: Any, title: str, size: tuple[float, float] = (6, 4)):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=size, layout="constrained")
    ax.set_title(title, fontsize=10)
    ax.tick_params(labelsize=8)
    return ax


def _mode_suffix(oracle: bool) -> str:
    return f" — {ORACLE_LABEL}" if oracle else ""


def plot_cost_quality(sweep, chosen: dict | None = None, *, x: str = "handoff_rate", oracle: bool = False, ax=None):
    """Quality against cloud-call share (or `x="cost_usd"`), one line per policy."""
    ax = _axes(ax, f"Cost–quality{_mode_suffix(oracle)}")
    colours = iter(f"C{i}" for i in range(10))
    for policy, rows in sweep.groupby("policy", sort=False):
        rows = rows.sort_values(x)
        style = _BASELINE_STYLE.get(policy) or {"marker": "o", "color": next(colours), "lw": 2}
        if policy in ("always-local", "always-cloud"):
            ax.scatter(rows[x], rows["quality"], s=50, label=policy, zorder=3, marker=style["marker"],
                       color=style["color"])
        else:
            ax.plot(rows[x], rows["quality"], ms=4, label=policy, **style)
    if chosen is not None:
        ax.scatter([chosen[x]], [chosen["quality"]], s=180, facecolors="none", edgecolors="red",
                   linewidths=2, zorder=4, label=f"chosen (threshold {chosen['threshold']:.3g})")
    if x == "handoff_rate":
        from matplotlib.ticker import PercentFormatter

        ax.xaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_xlim(-0.03, 1.03)
    ax.set_xlabel(_X_LABELS.get(x, x), fontsize=9)
    ax.set_ylabel("quality (mean score, 0–1)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title="policy", title_fontsize=8, loc="lower right")
    return ax


_X_LABELS = {"handoff_rate": "items sent to the cloud (%)", "cost_usd": "cloud cost over the set (USD)",
             "latency_s": "mean latency per item (s)"}


def plot_roc(curves: dict[str, tuple[Any, Any, float]], *, oracle: bool = False, top: int = 8,
             always: tuple[str, ...] = (), ax=None):
    """ROC per signal, {name: (false positive rate, true positive rate, AUROC)}: the `top` best
    by AUROC plus those named in `always`. Points are joined linearly (ties = random order)."""
    ax = _axes(ax, f"Signals predicting a wrong local answer{_mode_suffix(oracle)}", size=(7.5, 4))
    ranked = sorted(curves.items(), key=lambda kv: -_sortable(kv[1][2]))
    shown = [kv for i, kv in enumerate(ranked) if i < top or kv[0] in always]
    for name, (fpr, tpr, area) in shown:
        width = 2.5 if name in always else 1.2
        ax.plot(fpr, tpr, lw=width, label=f"{name} (AUROC {area:.2f})")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="chance (AUROC 0.50)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate\n(share of right local answers flagged)", fontsize=9)
    ax.set_ylabel("true positive rate\n(share of wrong local answers flagged)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    return ax


def plot_handoff_reasons(counts: dict[str, int], *, oracle: bool = False, ax=None):
    """How often each signal (or policy) requested the handoff."""
    ax = _axes(ax, f"Handoff reasons{_mode_suffix(oracle)}")
    ordered = sorted(counts.items(), key=lambda kv: -kv[1])
    names = [name for name, _ in ordered] or ["(no handoff)"]
    values = [value for _, value in ordered] or [0]
    ax.barh(names, values)
    ax.invert_yaxis()
    ax.set_xlabel("items handed off (count)", fontsize=9)
    ax.xaxis.get_major_locator().set_params(integer=True)
    return ax


def _sortable(value: float) -> float:
    return value if value == value else -1.0


# ---- handoff timelines -------------------------------------------------------------------

@dataclass(frozen=True)
class TimelinePanel:
    """One handed-off item: what its watched signal measured over time, and what came after."""

    title: str
    seconds: list[float]  # recorded time of each local token (seconds since the local call)
    probabilities: list[float | None]
    watched: dict  # the bundle's `watched` shape (display.mime.watched_data)
    stop_s: float  # where local generation stopped (early handoff) or ended
    early: bool
    cloud_s: float | None  # the cloud's measured time after it (None under the oracle cloud)
    cloud_ttft_s: float | None


def timeline_panels(recs, policy: str, th, n: int) -> list[TimelinePanel]:
    """The first `n` items the policy hands off after local tokens, replayed exactly as the cascade would."""
    from ..display.mime import watched_data
    from .replay import replay_item

    panels = []
    for rec in recs:
        outcome = replay_item(rec, policy, th, rec.params())
        tokens = [e for e in rec.events if e.is_generated]
        if outcome.route != "cloud" or outcome.decision.stage == "before" or not tokens:
            continue
        end = len(tokens) if outcome.stop_index is None else outcome.stop_index + 1
        watched = watched_data(outcome.decision, tokens[:end], th.window) or {  # nothing measured (no logprobs)
            "signal": None, "quantity": "", "unit": "", "series": [None] * end, "threshold": None, "probability": False}
        seconds = [float(t.get("t") or 0.0) for t in rec.local["tokens"][:end]]
        cloud = rec.cloud or {}
        panels.append(TimelinePanel(
            f"{rec.item['id']} · {_reason(outcome.decision)}",
            seconds, [None if e.logprob is None else math.exp(e.logprob) for e in tokens[:end]], watched,
            seconds[-1], outcome.stop_index is not None, cloud.get("seconds"), cloud.get("ttft_s")))
        if len(panels) == n:
            break
    return panels


def _reason(decision) -> str:
    """'low_confidence (during)': what the handoff was for (a signal, or the policy's own reason), and when."""
    return f"{decision.reason} ({decision.stage})"


def _draw_panel(ax, panel: TimelinePanel) -> None:
    w = panel.watched
    if w["probability"]:
        ax.scatter(panel.seconds, [p if p is not None else float("nan") for p in panel.probabilities], s=7,
                   color="C1", alpha=0.6, label="token probability", zorder=2)
        ax.set_ylim(0, 1.02)
    shown = [(s, v) for s, v in zip(panel.seconds, w["series"]) if v is not None]
    if shown:  # a learned policy's estimates are points where the driver asked it, joined
        ax.plot(*zip(*shown), color="C0", lw=1.6, marker="o", ms=3, label=w["quantity"], zorder=3)
    if w["threshold"] is not None:
        ax.axhline(w["threshold"], color="C3", ls="--", lw=1, label=f"threshold {w['threshold']:.2f}")
    ax.axvline(panel.stop_s, color="k", lw=1, label="local stopped → handoff")
    if panel.cloud_s:
        ttft = min(panel.cloud_ttft_s or 0.0, panel.cloud_s)
        ax.axvspan(panel.stop_s, panel.stop_s + ttft, color="C0", alpha=0.08, label="cloud: waiting (TTFT)")
        ax.axvspan(panel.stop_s + ttft, panel.stop_s + panel.cloud_s, color="C0", alpha=0.22,
                   label="cloud: streaming")
    ax.set_xlim(left=0)  # the wait before the first local token shows too
    ax.set_title(panel.title, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.25)


def plot_timelines(panels: list[TimelinePanel], *, policy: str = DEFAULT_POLICY, oracle: bool = False, cols: int = 3):
    """Small multiples of handoff timelines (x: seconds since the local call, measured while recording)."""
    import matplotlib.pyplot as plt

    rows = max(1, -(-len(panels) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.1 * rows + 0.9), squeeze=False,
                             sharey=all(p.watched["probability"] for p in panels), layout="constrained")
    for ax, panel in zip(axes.flat, panels):
        _draw_panel(ax, panel)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("probability (0–1)" if not panels or panels[0].watched["probability"]
                      else "watched value", fontsize=8)
    for ax in axes[-1, :]:
        ax.set_xlabel("seconds since the local call", fontsize=8)
    cloud = "" if any(p.cloud_s for p in panels) else " · no cloud timing"
    fig.suptitle(f"Handoff timelines: items the {policy} policy hands off{_mode_suffix(oracle)}{cloud}", fontsize=10)
    if panels:
        handles, labels = axes.flat[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=min(3, cols), fontsize=7, frameon=False)
    else:
        axes.flat[0].set_visible(True)
        axes.flat[0].text(0.5, 0.5, "no item was handed off after local tokens", ha="center", fontsize=9)
    return fig
