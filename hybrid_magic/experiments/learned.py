"""fit_policy: a logistic regression over recorded signal values, registered as a policy.

It learns P(local answer correct) from the signals the live cascade gives a policy,
on the user's own prompts, hands off when that probability falls below a cut
(PolicyParams.threshold, else 0.5), and is compared with the default cascade on a
held-out split by APGR and AUROC.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Sequence

import numpy as np

from ..errors import UsageError
from ..router import signals as sig
from ..router.policy import PolicyParams, register_policy, requests_handoff
from ..types import Decision, Signal
from . import replay
from .metrics import apgr, auroc
from .states import reduce

FEATURES = ("low_confidence", "high_entropy", "repetition", "truncated", "refusal", "format", "prompt_length",
            "answer_confidence", "answer_estimate", "arithmetic", "self_check")  # self_check is imputed unless fitted with self_check=True (then enable it live)
_ANSWER_STAGES = ("during", "after")


@dataclass
class StateTerms:
    """PCA of the hidden states (fitted on the training split), its component scales and weights."""

    reducer: object
    scales: np.ndarray
    weights: np.ndarray

    def logit(self, state: np.ndarray) -> float:
        return float((self.reducer.transform(state[None, :])[0] / self.scales) @ self.weights)


@dataclass
class LearnedPolicy:
    """A policy function (signals, params) -> Decision with fitted weights; missing values get the mean."""

    name: str
    features: tuple[str, ...]
    means: np.ndarray
    scales: np.ndarray
    weights: np.ndarray
    bias: float
    cut: float = 0.5
    states: StateTerms | None = None  # the hidden-state part, when fitted with states

    def p_correct(self, signals: Sequence[Signal], state: Sequence[float] | None = None) -> float:
        """Without a hidden-state vector (live %%hybrid today) its terms count as the training mean: zero."""
        x = _vector(signals, self.features)
        x = np.where(np.isnan(x), self.means, x)
        z = float(((x - self.means) / self.scales) @ self.weights + self.bias)
        if self.states is not None and state is not None:
            z += self.states.logit(np.asarray(state, dtype=float))
        return 1.0 / (1.0 + np.exp(-z))

    def contributions(self, signals: Sequence[Signal]) -> dict[str, float]:
        """Each signal's push on the log-odds of 'correct' (negative: towards a handoff), largest first."""
        x = _vector(signals, self.features)
        x = np.where(np.isnan(x), self.means, x)
        terms = ((x - self.means) / self.scales) * self.weights
        return dict(sorted(zip(self.features, terms.round(3).tolist()), key=lambda kv: -abs(kv[1])))

    def __call__(self, signals: Sequence[Signal], params: PolicyParams) -> Decision:
        hard = next((s for s in signals if s.stage == "before" and requests_handoff(s)), None)
        seen = [s.stage for s in signals if s.stage in _ANSWER_STAGES]
        if hard is None and not seen:  # nothing of the answer is known yet: let the local model start
            return Decision("local", False, False, None, tuple(signals), self.name)
        p = self.p_correct(signals)
        cut = self.cut if params.threshold is None else params.threshold
        requested = hard is not None or p < cut
        stage = "before" if hard is not None else ("after" if "after" in seen else "during")
        return Decision("cloud" if requested else "local", requested, requested, None, tuple(signals),
                        self.name, score=1.0 - p, stage=stage if requested else None)


@dataclass(frozen=True)
class FitReport:
    name: str
    coefficients: dict[str, float]
    train_size: int
    test_size: int
    apgr_learned: float
    apgr_cascade: float
    auroc_learned: float
    auroc_cascade: float
    cloud_mode: str
    usage: str
    policy: LearnedPolicy = field(repr=False)
    auroc_interval: tuple[float, float] = (float("nan"), float("nan"))  # bootstrap 95% on the held-out split
    wrong_answers: int = 0  # local errors among all labelled items: what the router learns from
    hidden_states: bool = False  # the local model's hidden states were features

    @property
    def beats_default(self) -> bool:
        return self.auroc_learned > self.auroc_cascade

    def __str__(self) -> str:
        low, high = self.auroc_interval
        verdict = ("beats the default cascade" if self.beats_default
                   else "does NOT beat the default cascade: keep the default")
        states = " and the local model's hidden states" if self.hidden_states else ""
        return (f"Policy {self.name!r} registered (use: {self.usage}), learned from signals{states} on "
                f"{self.train_size} items ({self.wrong_answers} local errors in all). Held-out {self.test_size} items "
                f"[{self.cloud_mode}]: AUROC {self.auroc_learned:.3f} (95% {low:.2f}-{high:.2f}) vs cascade "
                f"{self.auroc_cascade:.3f}; APGR {self.apgr_learned:.3f} vs {self.apgr_cascade:.3f}: {verdict}.")


def _vector(signals: Sequence[Signal], features: Sequence[str]) -> np.ndarray:
    values = {s.name: s.value for s in signals if s.available}
    return np.array([np.nan if values.get(name) is None else float(values[name]) for name in features])


def _split(labels: np.ndarray, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified by correctness, so both halves see right and wrong answers."""
    rng, test = np.random.default_rng(seed), []
    for value in (False, True):
        members = rng.permutation(np.flatnonzero(labels == value))
        test.extend(members[: int(round(len(members) * test_size))])
    is_test = np.zeros(len(labels), dtype=bool)
    is_test[test] = True
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def _column_means(X: np.ndarray) -> np.ndarray:
    """Mean of each column over its known values; 0 for a column never measured."""
    known = ~np.isnan(X)
    return np.where(known.any(axis=0), np.nansum(X, axis=0) / np.maximum(known.sum(axis=0), 1), 0.0)


STATE_COMPONENTS = 6  # principal components of the hidden states kept (fitted on the training split)
C_GRID = (0.03, 0.1, 0.3, 1.0)  # inverse regularisation strengths tried by cross-validation
BOOTSTRAP = 1000  # resamples of the held-out split for the AUROC interval


def fit_policy(recs: list[replay.Recorded], name: str, th: sig.Thresholds, *, test_size: float = 0.5,
               seed: int = 0, self_check: bool = False, states: np.ndarray | None = None) -> FitReport:
    """self_check=True also learns from the recorded self-check; then run with
    `%config HybridMagics.self_check = True` so the live policy sees it too.
    `states` (one row per item, from experiments.states) adds the local model's hidden states,
    reduced by PCA fitted on the training split; without them the policy uses the signals only."""
    correct = np.array([r.local_score >= 0.5 for r in recs])
    X = np.array([_vector(replay.answer_signals(r, th, self_check), FEATURES) for r in recs])
    train, test = _split(correct, test_size, seed)
    if len(set(correct[train])) < 2:
        raise UsageError("fit_policy needs right and wrong local answers in the training split; add items.")
    means = _column_means(X[train])
    filled = np.where(np.isnan(X), means, X)
    scales = filled[train].std(axis=0)
    scales[scales == 0] = 1.0
    Z, terms = (filled - means) / scales, None
    if states is not None:
        reduced_train, reduced, reducer = reduce(states[train], states, STATE_COMPONENTS)
        component_scales = reduced_train.std(axis=0).clip(min=1e-9)
        Z = np.hstack([Z, reduced / component_scales])
    model = _cross_validated(Z[train], correct[train], seed)
    if states is not None:
        terms = StateTerms(reducer, component_scales, model.coef_[0][len(FEATURES):])
    policy = LearnedPolicy(name, FEATURES, means, scales, model.coef_[0][:len(FEATURES)],
                           float(model.intercept_[0]), states=terms)
    register_policy(name, policy)
    risk = -model.decision_function(Z[test])
    return _report(recs, policy, th, train, test, correct, risk, states is not None)


def _cross_validated(X: np.ndarray, y: np.ndarray, seed: int):
    """Logistic regression, its strength picked by stratified k-fold cross-validation on the training split."""
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV

    folds = int(min(5, np.bincount(y.astype(int)).min()))
    if folds < 2:
        return LogisticRegression(C=0.3, class_weight="balanced", max_iter=2000).fit(X, y)
    return LogisticRegressionCV(Cs=list(C_GRID), cv=folds, scoring="roc_auc", class_weight="balanced",
                                max_iter=2000, random_state=seed).fit(X, y)


def bootstrap_interval(risk: np.ndarray, wrong: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """95% interval of the AUROC over resamples of the held-out items (NaN when too few of a class)."""
    rng, values = np.random.default_rng(seed), []
    for _ in range(BOOTSTRAP):
        pick = rng.integers(0, len(risk), len(risk))
        if 0 < wrong[pick].sum() < len(pick):
            values.append(auroc(risk[pick], wrong[pick]))
    return (float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))) if values else (np.nan, np.nan)


def _report(recs, policy: LearnedPolicy, th, train, test, correct, learned_risk, used_states: bool) -> FitReport:
    held = [recs[i] for i in test]
    local = np.array([r.local_score for r in held])
    cloud = np.array([r.cloud_score for r in held])
    cascade_risk = replay.policy_risk(held, "cascade", th)
    wrong = ~correct[test]
    mode = replay.ORACLE_LABEL if held and held[0].cloud is None else "measured cloud"
    return FitReport(
        policy.name, dict(zip(policy.features, np.round(policy.weights, 3).tolist())), len(train), len(test),
        apgr(learned_risk, local, cloud), apgr(cascade_risk, local, cloud),
        auroc(learned_risk, wrong), auroc(cascade_risk, wrong), mode, f"%%hybrid --policy {policy.name}", policy,
        bootstrap_interval(learned_risk, wrong), int(wrong.sum()) + int((~correct[train]).sum()), used_states)
