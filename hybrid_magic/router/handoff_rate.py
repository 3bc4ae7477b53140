"""A target handoff rate -> the confidence threshold (`%hybrid calibrate --handoff-rate`).

The knob (HybridMagics.threshold) cuts one value per cell: the default router's (any learned
policy's) estimated probability of a right local answer, or the cascade's answer_estimate. A cell is
handed off when that value is below the knob, so the knob that hands off a share r of cells is the
r-quantile of those values: the user's own past %%hybrid cells when there are at least
MIN_OWN_CELLS, else a shipped reference distribution (the router's in default_router.json, made by
benchmarks/fit_default_router.py; answer_estimate's in answer_estimate_reference.json, made by
experiments/reference.py). What it does not cover: a policy's value taken early, while the answer
streams, counts as it was then; the cascade's during-signals (low_confidence on half the knob,
entropy, repetition), refusals and arithmetic hand off some cells on top, and a cell it handed off
before its answer was complete has no answer_estimate to learn from.
"""
from __future__ import annotations

import json
import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError

REFERENCE_PATH = Path(__file__).with_name("answer_estimate_reference.json")
STEPS = 200  # the reference stores quantiles every 0.5 percent
MIN_OWN_CELLS = 30  # fewer of the user's own cells than this: the reference distribution is used


@dataclass(frozen=True)
class Cut:
    threshold: float
    rate: float  # the share of the data's values below the threshold
    data: str  # which data, in words


def cut_for_rate(values: Sequence[float], rate: float) -> tuple[float, float]:
    """The threshold with `rate` of `values` below it, and the share actually below it (ties count)."""
    ordered = sorted(values)
    k = min(max(round(rate * len(ordered)), 0), len(ordered))
    if k == 0:
        threshold = 0.0
    elif k == len(ordered):
        threshold = min(1.0, math.nextafter(ordered[-1], math.inf))
    else:
        threshold = (ordered[k - 1] + ordered[k]) / 2
    return threshold, sum(v < threshold for v in ordered) / len(ordered)


def reference() -> dict:
    return json.loads(REFERENCE_PATH.read_text(encoding="utf-8"))


def reference_cut(rate: float, stored: dict) -> tuple[float, float]:
    """The threshold at `rate` from the stored quantiles (linear between two stored levels), and that rate."""
    levels, quantiles = stored["levels"], stored["quantiles"]
    i = min(max(bisect_left(levels, rate), 1), len(levels) - 1)
    share = (rate - levels[i - 1]) / (levels[i] - levels[i - 1])
    return quantiles[i - 1] + share * (quantiles[i] - quantiles[i - 1]), rate


def parse_rate(text: str) -> float:
    """'0.3' or '30%' -> 0.3; anything else outside [0, 1] is one clear line."""
    try:
        rate = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        rate = math.nan
    if not 0.0 <= rate <= 1.0:
        raise UsageError(f"--handoff-rate takes a share of cells between 0 and 1 (e.g. 0.3 or 30%), not {text!r}.")
    return rate


def calibrate(own: Sequence[float], rate: float, where: str = "", stored: dict | None = None,
              measure: str = "an answer_estimate") -> Cut:
    """The cut for a target handoff rate in [0, 1], on the user's own values (of cells run on `where`: the
    backend and model, in words) when there are enough, else on the `stored` reference distribution
    (answer_estimate's when not given; a policy without one needs the user's cells)."""
    on = f" on {where}" if where else ""
    if len(own) >= MIN_OWN_CELLS:
        threshold, achieved = cut_for_rate(own, rate)
        return Cut(threshold, achieved, f"your {len(own)} past %%hybrid cells{on}")
    short = f"only {len(own)} of your cells{on} have {measure}, {MIN_OWN_CELLS} are needed"
    if stored is None:
        raise UsageError(f"%hybrid calibrate: {short}, and this policy ships no reference distribution.")
    threshold, achieved = reference_cut(rate, stored)
    return Cut(threshold, achieved, f"the reference distribution ({stored['items']} answers of {stored['source']}; "
                                    f"{short})")
