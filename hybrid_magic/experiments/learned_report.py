"""What fit_policy reports: the data it had, held-out AUROC of learned vs default with 95% intervals,
and one plain sentence saying whether it beats the default on the held-out split.

Both routers are scored as live %%hybrid runs them: each held-out recording replayed through the cascade
driver with the confidence knob swept (replay.policy_risk), early handoffs included. The default is the
default policy (types.DEFAULT_POLICY, the shipped router); the `*_cascade` fields keep their names
for the callers that read them and hold the default's figures.

The intervals are a paired bootstrap of the held-out items: the same resamples score both
routers, so the interval of the difference says whether the gain is more than the noise
of a split this size.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..types import DEFAULT_POLICY
from . import replay
from .metrics import apgr, auroc

BOOTSTRAP = 1000  # resamples of the held-out split for the AUROC intervals
# with fewer right (or wrong) answers than this among the items fitted on, fit_policy's correction to the router keeps
# its smallest strength instead of cross-validating it (heldout/log.md, candidate 16), and the report says so
FEW_ANSWERS = 10
NAN_PAIR = (float("nan"), float("nan"))


def fewest_of_a_class(correct: np.ndarray) -> int:
    """Right or wrong answers, whichever are fewer."""
    return int(min(correct.sum(), (~correct).sum()))


@dataclass(frozen=True)
class FitReport:
    name: str
    coefficients: dict[str, float]
    train_size: int
    test_size: int
    apgr_learned: float
    apgr_cascade: float  # the default policy's (DEFAULT_POLICY), on the same held-out items
    auroc_learned: float
    auroc_cascade: float  # the default policy's
    cloud_mode: str
    usage: str
    policy: object = field(repr=False)  # the LearnedPolicy, registered under `name`
    auroc_interval: tuple[float, float] = NAN_PAIR  # bootstrap 95% of the learned AUROC, held-out split
    wrong_answers: int = 0  # local errors among all labelled items: what the router learns from
    hidden_states: bool = False  # the local model's hidden states were features
    auroc_cascade_interval: tuple[float, float] = NAN_PAIR  # the default's, same resamples
    gain_interval: tuple[float, float] = NAN_PAIR  # learned minus default, same resamples
    labels: str = "scored items"  # where right/wrong came from (e.g. %%compare votes)
    note: str = ""  # e.g. why hidden states were asked for and not used
    strength: float | None = None  # cross-validated, or the smallest (few answers, around the router)
    fewest_in_training: int = 0  # right or wrong answers, whichever are fewer, among the items fitted on

    @property
    def beats_default(self) -> bool:
        return self.auroc_learned > self.auroc_cascade

    @property
    def verdict(self) -> str:
        """One plain sentence: does it beat the default on the held-out split, and is that more than noise."""
        gain, (low, high) = self.auroc_learned - self.auroc_cascade, self.gain_interval
        if np.isnan(gain) or np.isnan(low) or np.isnan(high):
            return ("It cannot be compared with the default router: the held-out split has only right or only "
                    "wrong local answers. Label more items.")
        spread = f"(AUROC {gain:+.3f}; 95% interval of the difference {low:+.3f} to {high:+.3f})"
        if gain > 0 and low > 0:
            return f"It beats the default router on the held-out split {spread}."
        if gain > 0:
            return (f"It scores above the default router on the held-out split {spread}, but the interval "
                    "includes zero: not shown to beat it at this size. Label more items before relying on it.")
        return f"It does NOT beat the default router on the held-out split {spread}: keep the default."

    def __str__(self) -> str:
        low, high = self.auroc_interval
        c_low, c_high = self.auroc_cascade_interval
        states = " and the local model's hidden states" if self.hidden_states else ""
        prior = getattr(self.policy, "prior", None)
        enough = self.fewest_in_training >= FEW_ANSWERS
        chosen = "cross-validated on the training items" if enough else "the smallest tried"
        correction = "" if prior is None else (f", as a correction to the default router ({prior.name!r}; strength "
                                               f"{self.strength:g}, {chosen})")
        few = "" if enough else (
            f" Only {self.fewest_in_training} right or wrong answers among the items it was fitted on: " + (
                "the cross-validation that chose its strength is noise at this size" if prior is None else
                "too few to cross-validate its strength, so it keeps the smallest (the router's ranking)")
            + "; label more items.")
        return (f"Policy {self.name!r} registered (use: {self.usage}), learned from signals, the answer's token "
                f"features{states}{correction}. "
                f"Data: {self.train_size + self.test_size} {self.labels} ({self.wrong_answers} local errors), "
                f"{self.train_size} to fit, {self.test_size} held out [{self.cloud_mode}]. Held-out AUROC "
                f"{self.auroc_learned:.3f} (95% {low:.2f}-{high:.2f}) vs default router {self.auroc_cascade:.3f} "
                f"(95% {c_low:.2f}-{c_high:.2f}); APGR {self.apgr_learned:.3f} vs {self.apgr_cascade:.3f}. "
                f"{self.verdict}{few}" + (f" {self.note}" if self.note else ""))


def paired_intervals(learned: np.ndarray, default: np.ndarray, wrong: np.ndarray, seed: int = 0):
    """95% intervals of the learned AUROC, the default's and their difference over the same resamples
    of the held-out items (NaN when too few of a class)."""
    rng, values = np.random.default_rng(seed), []
    for _ in range(BOOTSTRAP):
        pick = rng.integers(0, len(wrong), len(wrong))
        if 0 < wrong[pick].sum() < len(pick):
            a, b = auroc(learned[pick], wrong[pick]), auroc(default[pick], wrong[pick])
            values.append((a, b, a - b))
    if not values:
        return NAN_PAIR, NAN_PAIR, NAN_PAIR
    low, high = np.percentile(np.array(values), [2.5, 97.5], axis=0)
    return tuple((float(lo), float(hi)) for lo, hi in zip(low, high))


def coefficients(policy) -> dict[str, float]:
    """Each signal's weight, then each answer feature's (as `answer:NAME`), on standardised values."""
    pairs = list(zip(policy.features, policy.weights))
    if policy.answer is not None:
        pairs += [(f"answer:{name}", w) for name, w in zip(policy.answer.features, policy.answer.weights)]
    if getattr(policy, "prior", None) is not None:  # the default router's log-odds, as one weight
        pairs.append((f"prior:{policy.prior.name}", policy.prior_weight))
    return {name: round(float(w), 3) for name, w in pairs}


def fit_report(recs, policy, th, split, correct: np.ndarray, labels: str, strength: float | None = None
               ) -> FitReport:
    train, test = split
    held = [recs[i] for i in test]
    local = np.array([r.local_score for r in held])
    cloud = np.array([r.cloud_score for r in held])
    learned_risk = replay.policy_risk(held, policy.name, th)
    default_risk = replay.policy_risk(held, DEFAULT_POLICY, th)
    wrong = ~correct[test]
    mode = replay.ORACLE_LABEL if held and held[0].cloud is None else "measured cloud"
    learned_ci, default_ci, gain_ci = paired_intervals(learned_risk, default_risk, wrong)
    return FitReport(
        policy.name, coefficients(policy), len(train), len(test),
        apgr(learned_risk, local, cloud), apgr(default_risk, local, cloud),
        auroc(learned_risk, wrong), auroc(default_risk, wrong), mode, f"%%hybrid --policy {policy.name}", policy,
        learned_ci, int((~correct).sum()), policy.states is not None, default_ci, gain_ci, labels,
        strength=strength, fewest_in_training=fewest_of_a_class(correct[train]))
