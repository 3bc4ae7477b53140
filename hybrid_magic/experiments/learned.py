"""fit_policy: a logistic regression over recorded signal values, registered as a policy.

It learns P(local answer correct) from the signals the live cascade gives a policy,
the answer's own token features (all twelve of router.confidence.answer_features)
and, when fitted with them, the local model's hidden states, on the user's own
prompts, hands off when that probability falls below a cut (PolicyParams.threshold,
else 0.5), explains each decision by the push of each feature on the log-odds
(Decision.contributions, shown on the card), and is compared with the default
cascade on a held-out split (learned_report.py).

Live, the hidden-state term reaches the policy as the `hidden_states` signal
(router/states.py): the prompt's state that the first token carries (read during
the prefill, no extra model call), from the first token on (an early handoff
weighs it too), only for a policy that has one, in live %%hybrid and in replay
alike. On a backend without hidden states the term counts as the training mean: zero.
The answer features reach it the same way, as one after-stage term (the
`answer_features` signal, router/answer_terms.py), read from the tokens already
generated; before the answer is complete (an early handoff) that term is zero.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Sequence

import numpy as np

from ..errors import UsageError
from ..router import signals as sig
from ..router.after import answer_tokens
from ..router.answer_terms import NAME as ANSWER_SIGNAL
from ..router.confidence import answer_features
from ..router.policy import PolicyParams, register_policy, requests_handoff
from ..router.states import NAME as STATE_SIGNAL
from ..router.states import prompt_state
from ..types import Decision, Signal
from . import replay
from .learned_report import FitReport, fit_report

FEATURES = ("low_confidence", "high_entropy", "repetition", "truncated", "refusal", "format", "prompt_length",
            "answer_confidence", "answer_estimate", "arithmetic", "self_check")  # self_check is imputed unless fitted with self_check=True (then enable it live)
# router.confidence.answer_features, all twelve (none chosen): one term, the `answer_features` signal
ANSWER_FEATURES = ("span_first_logprob", "span_mean_logprob", "span_lowest_logprob", "span_mean_entropy",
                   "span_first_margin", "span_tokens", "mean_logprob", "lowest_logprob", "min_margin", "tokens",
                   "hit_limit", "binary_answer")
_ANSWER_STAGES = ("during", "after")


@dataclass
class StateTerms:
    """PCA of the hidden states (fitted on the training split), its component scales and weights, and the
    fingerprint of the weights the states came from (`PromptState.model`; None when not known)."""

    reducer: object
    scales: np.ndarray
    weights: np.ndarray
    model: str | None = None

    def logit(self, state: Sequence[float]) -> float:
        vector = np.asarray(state, dtype=float)[None, :]
        return float((self.reducer.transform(vector)[0] / self.scales) @ self.weights)


@dataclass
class AnswerTerms:
    """The answer's own token features: their training means and scales, and their weights."""

    features: tuple[str, ...]
    means: np.ndarray
    scales: np.ndarray
    weights: np.ndarray

    def logit(self, values: dict[str, float]) -> float:
        x = np.array([np.nan if values.get(name) is None else values[name] for name in self.features], dtype=float)
        return float(_standardised(x, self.means, self.scales) @ self.weights)


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
    answer: AnswerTerms | None = None  # the answer's token features (router.answer_terms reads them)

    @property
    def reads_answer(self) -> bool:
        """router.answer_terms reads the answer's token features only for such a policy."""
        return self.answer is not None

    def answer_logit(self, values: dict[str, float]) -> float:
        return self.answer.logit(values)

    @property
    def reads_states(self) -> bool:
        """router.states reads the hidden states only for such a policy."""
        return self.states is not None

    @property
    def state_model(self) -> str | None:
        """The weights its hidden-state term was fitted on: router.states reads no other model's states."""
        return self.states.model if self.states is not None else None

    def state_logit(self, state: Sequence[float]) -> float:
        return self.states.logit(state)

    def _terms(self, signals: Sequence[Signal], state: Sequence[float] | None) -> dict[str, float]:
        x = _standardised(_vector(signals, self.features), self.means, self.scales)
        terms = dict(zip(self.features, (x * self.weights).tolist()))
        if self.answer is not None:  # missing (an early handoff, no logprobs): the training mean, zero
            measured = _vector(signals, (ANSWER_SIGNAL,))[0]
            terms[ANSWER_SIGNAL] = 0.0 if np.isnan(measured) else float(measured)
        if self.states is not None:
            measured = _vector(signals, (STATE_SIGNAL,))[0]
            terms[STATE_SIGNAL] = (self.states.logit(state) if state is not None
                                   else 0.0 if np.isnan(measured) else float(measured))
        return terms

    def contributions(self, signals: Sequence[Signal], state: Sequence[float] | None = None) -> dict[str, float]:
        """Each feature's push on the log-odds of 'correct' (negative: towards a handoff), largest first.
        The hidden-state term comes from `state` when given, else from the `hidden_states` signal."""
        return dict(_ranked(self._terms(signals, state)))

    def p_correct(self, signals: Sequence[Signal], state: Sequence[float] | None = None) -> float:
        return _sigmoid(sum(self._terms(signals, state).values()) + self.bias)

    def __call__(self, signals: Sequence[Signal], params: PolicyParams) -> Decision:
        hard = next((s for s in signals if s.stage == "before" and requests_handoff(s)), None)
        seen = [s.stage for s in signals if s.stage in _ANSWER_STAGES]
        if hard is None and not seen:  # nothing of the answer is known yet: let the local model start
            return Decision("local", False, False, None, tuple(signals), self.name)
        terms = self._terms(signals, None)
        p = _sigmoid(sum(terms.values()) + self.bias)
        cut = self.cut if params.threshold is None else params.threshold
        requested = hard is not None or p < cut
        stage = "before" if hard is not None else ("after" if "after" in seen else "during")
        return Decision("cloud" if requested else "local", requested, requested, None, tuple(signals),
                        self.name, score=1.0 - p, stage=stage if requested else None,
                        contributions=() if hard is not None else _ranked(terms))


def _sigmoid(z: float) -> float:
    return float(1.0 / (1.0 + np.exp(-z)))


def _ranked(terms: dict[str, float]) -> tuple[tuple[str, float], ...]:
    return tuple(sorted(((k, round(v, 3)) for k, v in terms.items()), key=lambda kv: -abs(kv[1])))


def _vector(signals: Sequence[Signal], features: Sequence[str]) -> np.ndarray:
    values = {s.name: s.value for s in signals if s.available}
    return np.array([np.nan if values.get(name) is None else float(values[name]) for name in features])


def _standardised(x: np.ndarray, means: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """A missing value counts as the training mean (zero after standardising)."""
    return (np.where(np.isnan(x), means, x) - means) / scales


def _scaling(X: np.ndarray, train: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each column's training mean and spread (1 where it does not vary), and every row standardised."""
    means = _column_means(X[train])
    scales = np.where(np.isnan(X[train]), means, X[train]).std(axis=0)
    scales[scales == 0] = 1.0
    return _standardised(X, means, scales), means, scales


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


def fit_policy(recs: list[replay.Recorded], name: str, th: sig.Thresholds, *, test_size: float = 0.5,
               seed: int = 0, self_check: bool = False, states: np.ndarray | None = None,
               labels: str = "scored items") -> FitReport:
    """self_check=True also learns from the recorded self-check; then run with
    `%config HybridMagics.self_check = True` so the live policy sees it too.
    `states` (one row per item: Experiment.hidden_states, the recorded prompt states) adds the local model's
    hidden state at the last prompt token,
    reduced by PCA fitted on the training split; without them the policy uses the signals only.
    `labels` says where the right/wrong labels came from (the report repeats it)."""
    correct = np.array([r.local_score >= 0.5 for r in recs])
    X = np.array([_vector(replay.answer_signals(r, th, self_check), FEATURES) for r in recs])
    train, test = _split(correct, test_size, seed)
    if len(set(correct[train])) < 2:
        raise UsageError("fit_policy needs right and wrong local answers in the training split; add items.")
    Z, means, scales = _scaling(X, train)
    answer_rows = [answer_features(answer_tokens(r.events)) for r in recs]  # the tokens live %%hybrid keeps
    A, answer_means, answer_scales = _scaling(
        np.array([[row.get(name, np.nan) for name in ANSWER_FEATURES] for row in answer_rows], dtype=float), train)
    Z, terms = np.hstack([Z, A]), None
    if states is not None:
        reduced_train, reduced, reducer = reduce(states[train], states, STATE_COMPONENTS)
        component_scales = reduced_train.std(axis=0).clip(min=1e-9)
        Z = np.hstack([Z, reduced / component_scales])
    model = _cross_validated(Z[train], correct[train], seed)
    weights, answer_end = model.coef_[0], len(FEATURES) + len(ANSWER_FEATURES)
    if states is not None:
        fitted_on = next((s.model for s in (prompt_state(r.events) for r in recs) if s is not None), None)
        terms = StateTerms(reducer, component_scales, weights[answer_end:], fitted_on)
    answer = AnswerTerms(ANSWER_FEATURES, answer_means, answer_scales, weights[len(FEATURES):answer_end])
    policy = LearnedPolicy(name, FEATURES, means, scales, weights[:len(FEATURES)], float(model.intercept_[0]),
                           states=terms, answer=answer)
    register_policy(name, policy)
    risk = -model.decision_function(Z[test])
    return fit_report(recs, policy, th, (train, test), correct, risk, labels)


def reduce(train: np.ndarray, test: np.ndarray, components: int) -> tuple[np.ndarray, np.ndarray, object]:
    """PCA fitted on the training rows only (standardised), applied to both."""
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    k = max(1, min(components, len(train) - 1, train.shape[1]))
    pipeline = make_pipeline(StandardScaler(), PCA(n_components=k, random_state=0)).fit(train)
    return pipeline.transform(train), pipeline.transform(test), pipeline


def _cross_validated(X: np.ndarray, y: np.ndarray, seed: int):
    """Logistic regression, its strength picked by stratified k-fold cross-validation on the training split."""
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV

    folds = int(min(5, np.bincount(y.astype(int)).min()))
    if folds < 2:
        return LogisticRegression(C=0.3, class_weight="balanced", max_iter=2000).fit(X, y)
    return LogisticRegressionCV(Cs=list(C_GRID), cv=folds, scoring="roc_auc", class_weight="balanced",
                                max_iter=2000, random_state=seed).fit(X, y)


