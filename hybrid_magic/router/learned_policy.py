"""A learned policy, live: fitted weights (and trees, router/trees.py) over the signals, the answer's token
features and (optionally) the local model's hidden states -> P(local answer right) -> a Decision, explained by
each feature's push on the log-odds.

experiments.learned fits one on the user's own labelled items (fit_policy); router.default_router loads the
shipped default (fitted the same way on several sources, shipped as data). Both hand off when that probability
falls below the cut: the confidence knob (PolicyParams.threshold), else the policy's own `cut`.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..types import Decision, Signal
from .answer_terms import NAME as ANSWER_SIGNAL
from .policy import PolicyParams, requests_handoff
from .states import NAME as STATE_SIGNAL
from .trees import Trees

# router.confidence.answer_features, all twelve (none chosen): one term, the `answer_features` signal
ANSWER_FEATURES = ("span_first_logprob", "span_mean_logprob", "span_lowest_logprob", "span_mean_entropy",
                   "span_first_margin", "span_tokens", "mean_logprob", "lowest_logprob", "min_margin", "tokens",
                   "hit_limit", "binary_answer")
_ANSWER_STAGES = ("during", "after")
# requests a learned policy obeys whatever its weights say, like a before-stage request (--cloud, context overflow):
# what the user asked for (a --format the answer breaks, a --deadline it cannot meet) and the local model asking
# for the handoff itself
FIRM_REQUESTS = frozenset({"format", "slow", "model_requested"})
# a standardised value past this many training spreads counts as this far: a weight learned on the training range
# never extrapolates beyond it (a 2,000-token prompt is not 200 times as telling as one 7 tokens over the mean)
EDGE = 3.0


@dataclass
class LinearReducer:
    """A fitted standardise-then-PCA as plain arrays (what shipped data holds): rows -> component scores."""

    centre: np.ndarray
    scale: np.ndarray
    components: np.ndarray  # one row per component

    @classmethod
    def from_pipeline(cls, pipeline) -> LinearReducer:
        """From experiments.learned.reduce's fitted StandardScaler + PCA (the PCA's own mean folded into the centre)."""
        scaler, pca = pipeline[0], pipeline[-1]
        return cls(scaler.mean_ + scaler.scale_ * pca.mean_, scaler.scale_.copy(), pca.components_.copy())

    def transform(self, X: np.ndarray) -> np.ndarray:
        return ((np.asarray(X, dtype=float) - self.centre) / self.scale) @ self.components.T


@dataclass
class StateTerms:
    """PCA of the hidden states (fit_policy's: fitted on the training split; the default router's: on pooled
    prompts), its component scales and weights, the term's own constant (counted only when a state is read;
    without one the term is absent), and the fingerprint of the weights the states came from
    (`PromptState.model`; None when not known)."""

    reducer: object
    scales: np.ndarray
    weights: np.ndarray
    model: str | None = None
    bias: float = 0.0

    def logit(self, state: Sequence[float]) -> float:
        return float(self.logits(np.asarray(state, dtype=float)[None, :])[0])

    def logits(self, rows: np.ndarray) -> np.ndarray:
        return (self.reducer.transform(rows) / self.scales) @ self.weights + self.bias


@dataclass
class AnswerTerms:
    """The answer's own token features: their training means and scales, their weights, and trees over them
    (router/trees.py; their roots are in the policy's bias)."""

    features: tuple[str, ...]
    means: np.ndarray
    scales: np.ndarray
    weights: np.ndarray
    trees: Trees | None = None

    def logit(self, values: dict[str, float]) -> float:
        x = np.array([np.nan if values.get(name) is None else values[name] for name in self.features], dtype=float)
        return float(self.logits(x[None, :])[0])

    def logits(self, A: np.ndarray) -> np.ndarray:
        """The term for rows of raw values; 0 for a row with none (no logprobs), as live counts a missing term."""
        A = np.atleast_2d(np.asarray(A, dtype=float))
        term = weighed(bounded(standardised(A, self.means, self.scales)), self.weights, self.trees)
        return np.where(np.isnan(A).all(axis=1), 0.0, term)


@dataclass
class LearnedPolicy:
    """A policy function (signals, params) -> Decision with fitted weights; missing values get the training mean,
    values past EDGE training spreads count as EDGE."""

    name: str
    features: tuple[str, ...]
    means: np.ndarray
    scales: np.ndarray
    weights: np.ndarray
    bias: float
    cut: float = 0.5
    states: StateTerms | None = None  # the hidden-state part, when fitted with states
    answer: AnswerTerms | None = None  # the answer's token features (router.answer_terms reads them)
    reference: dict | None = None  # quantiles of its estimate on labelled answers, for %hybrid calibrate
    # another learned policy whose log-odds this one adds, times prior_weight (fit_policy: the default router):
    # one term named after it (its feature terms; its bias is folded into this policy's), its answer part inside
    # the answer_features term, its hidden-state part inside the hidden_states term (state_logit)
    prior: LearnedPolicy | None = None
    prior_weight: float = 0.0
    # before the answer is complete (its token features not yet counted) the estimate must fall this many log-odds
    # below the cut to end the local answer early (early_cut); the default router's is 1.0 (log.md, candidate 11)
    early_margin: float = 0.0
    trees: Trees | None = None  # trees over its features (router/trees.py); their roots are in its bias

    takes_knob = True  # the confidence knob (--threshold, HybridMagics.threshold) is its cut

    @property
    def reads_answer(self) -> bool:
        """router.answer_terms reads the answer's token features only for such a policy."""
        return self.answer is not None

    def answer_logit(self, values: dict[str, float]) -> float:
        own = self.answer.logit(values)
        return own if self.prior is None else own + self.prior_weight * self.prior.answer_logit(values)

    @property
    def reads_states(self) -> bool:
        """router.states reads the hidden states only for such a policy (its own state term, or its prior's)."""
        return self.states is not None or (self.prior is not None and self.prior.reads_states)

    @property
    def state_model(self) -> str | None:
        """The weights its hidden-state term was fitted on: router.states reads no other model's states."""
        if self.states is not None:
            return self.states.model
        return self.prior.state_model if self.prior is not None else None

    def state_logit(self, state: Sequence[float]) -> float:
        """The whole hidden-state term, its prior's (times prior_weight) included: one `hidden_states` signal."""
        own = self.states.logit(state) if self.states is not None else 0.0
        if self.prior is not None and self.prior.reads_states:
            own += self.prior_weight * self.prior.state_logit(state)
        return own

    def _terms(self, signals: Sequence[Signal], state: Sequence[float] | None) -> dict[str, float]:
        x = bounded(standardised(signal_vector(signals, self.features), self.means, self.scales))
        pushes = x * self.weights
        if self.trees is not None:
            pushes = pushes + self.trees.pushes(x, len(self.features))
        terms = dict(zip(self.features, pushes.tolist()))
        if self.answer is not None:  # missing (an early handoff, no logprobs): zero, its training average
            measured = signal_vector(signals, (ANSWER_SIGNAL,))[0]
            terms[ANSWER_SIGNAL] = 0.0 if np.isnan(measured) else float(measured)
        if self.reads_states:  # missing (another backend, another model): the term is absent, zero
            measured = signal_vector(signals, (STATE_SIGNAL,))[0]
            terms[STATE_SIGNAL] = (self.state_logit(state) if state is not None
                                   else 0.0 if np.isnan(measured) else float(measured))
        if self.prior is not None:  # its answer and state parts are already in those terms (answer_logit, state_logit)
            prior = self.prior._terms(signals, None)
            prior.pop(ANSWER_SIGNAL, None)
            prior.pop(STATE_SIGNAL, None)
            terms[self.prior.name] = self.prior_weight * sum(prior.values())
        return terms

    def contributions(self, signals: Sequence[Signal], state: Sequence[float] | None = None) -> dict[str, float]:
        """Each feature's push on the log-odds of 'correct' (negative: towards a handoff), largest first.
        The hidden-state term comes from `state` when given, else from the `hidden_states` signal."""
        return dict(_ranked(self._terms(signals, state)))

    def p_correct(self, signals: Sequence[Signal], state: Sequence[float] | None = None) -> float:
        return self._probability(self._terms(signals, state))

    def logits(self, X: np.ndarray, A: np.ndarray) -> np.ndarray:
        """The log-odds p_correct computes, for rows of raw values (its features; the answer's), when no request
        is firm, for a policy with answer terms and no prior, without its hidden-state term (experiments.learned's
        _state_terms adds it where live would read it): how experiments score many answers at once."""
        if self.prior is not None or self.answer is None:
            raise ValueError("logits() is for a policy with answer terms and no prior")
        own = weighed(bounded(standardised(X, self.means, self.scales)), self.weights, self.trees)
        return own + self.bias + self.answer.logits(A)

    def early_cut(self, cut: float, margin: float | None = None) -> float:
        """The bar an estimate made before the answer is complete must fall below: `margin` (None: its own
        early_margin) log-odds below `cut` (a cut of 0 or 1, the knob's never and always, stays as it is)."""
        margin = self.early_margin if margin is None else margin
        if not margin or not 0.0 < cut < 1.0:
            return cut
        return _sigmoid(log_odds(cut) - margin)

    def _probability(self, terms: dict[str, float]) -> float:
        return _sigmoid(sum(terms.values()) + self.bias)

    def __call__(self, signals: Sequence[Signal], params: PolicyParams) -> Decision:
        hard = firm_request(signals)
        seen = [s.stage for s in signals if s.stage in _ANSWER_STAGES]
        if hard is None and not seen:  # nothing of the answer is known yet: let the local model start
            return Decision("local", False, False, None, tuple(signals), self.name)
        terms = self._terms(signals, None)
        p = self._probability(terms)
        cut = self.cut if params.threshold is None else params.threshold
        # mid-answer: only a clearly failing answer stops (HybridMagics.early_margin may set the margin)
        early = self.early_cut(cut, params.early_margin)
        bar = cut if "after" in seen else early
        requested = hard is not None or p < bar
        stage = hard.stage if hard is not None else ("after" if "after" in seen else "during")
        return Decision("cloud" if requested else "local", requested, requested, None, tuple(signals),
                        self.name, score=1.0 - p, stage=stage if requested else None,
                        reason=hard.name if hard is not None else self.name if requested else None,
                        contributions=() if hard is not None else _ranked(terms), cut=cut,
                        early_cut=None if early == cut else early)


def firm_request(signals: Sequence[Signal]) -> Signal | None:
    """The first request a learned policy obeys whatever its weights say (a before-stage one, or FIRM_REQUESTS)."""
    return next((s for s in signals if requests_handoff(s) and (s.stage == "before" or s.name in FIRM_REQUESTS)), None)


def policy_data(policy: LearnedPolicy) -> dict:
    """A learned policy with answer terms and no prior as plain data (JSON), for shipping and reloading; its
    hidden-state term too when its reducer is a LinearReducer."""
    if policy.answer is None or policy.prior is not None:
        raise ValueError("only a policy with answer terms and no prior is stored as data")
    if policy.states is not None and not isinstance(policy.states.reducer, LinearReducer):
        raise ValueError("a hidden-state term is stored as data only with a LinearReducer")
    answer = policy.answer
    data = {"name": policy.name, "features": list(policy.features), "means": policy.means.tolist(),
            "scales": policy.scales.tolist(), "weights": policy.weights.tolist(), "bias": policy.bias,
            "cut": policy.cut, "early_margin": policy.early_margin, "reference": policy.reference,
            "answer": {"features": list(answer.features), "means": answer.means.tolist(),
                       "scales": answer.scales.tolist(), "weights": answer.weights.tolist()}}
    if policy.trees is not None:
        data["trees"] = policy.trees.data()
    if answer.trees is not None:
        data["answer"]["trees"] = answer.trees.data()
    if policy.states is not None:
        states, reducer = policy.states, policy.states.reducer
        data["states"] = {"model": states.model, "bias": states.bias, "weights": states.weights.tolist(),
                          "scales": states.scales.tolist(), "centre": reducer.centre.tolist(),
                          "scale": reducer.scale.tolist(), "components": reducer.components.tolist()}
    return data


def policy_from_data(data: dict) -> LearnedPolicy:
    answer, states = data["answer"], data.get("states")
    arrays = lambda part, keys: (np.array(part[k], dtype=float) for k in keys)  # noqa: E731
    state_terms = None if states is None else StateTerms(
        LinearReducer(*arrays(states, ("centre", "scale", "components"))),
        *arrays(states, ("scales", "weights")), states["model"], float(states["bias"]))
    trees = lambda part: Trees.from_data(part["trees"]) if "trees" in part else None  # noqa: E731
    return LearnedPolicy(data["name"], tuple(data["features"]), *arrays(data, ("means", "scales", "weights")),
                         float(data["bias"]), float(data["cut"]), reference=data.get("reference"),
                         early_margin=float(data.get("early_margin", 0.0)), states=state_terms, trees=trees(data),
                         answer=AnswerTerms(tuple(answer["features"]), *arrays(answer, ("means", "scales", "weights")),
                                            trees(answer)))


def _sigmoid(z: float) -> float:
    return float(1.0 / (1.0 + np.exp(-z)))


def log_odds(p: float) -> float:
    """The inverse of the sigmoid: a probability (0 < p < 1) in log-odds."""
    return math.log(p / (1.0 - p))


def _ranked(terms: dict[str, float]) -> tuple[tuple[str, float], ...]:
    return tuple(sorted(((k, round(v, 3)) for k, v in terms.items()), key=lambda kv: -abs(kv[1])))


def signal_vector(signals: Sequence[Signal], features: Sequence[str]) -> np.ndarray:
    values = {s.name: s.value for s in signals if s.available}
    return np.array([np.nan if values.get(name) is None else float(values[name]) for name in features])


def weighed(Z: np.ndarray, weights: np.ndarray, trees: Trees | None) -> np.ndarray:
    """Rows of standardised, bounded values -> their weights' and trees' log-odds."""
    return Z @ weights + (trees.output(Z) if trees is not None else 0.0)


def bounded(z: np.ndarray) -> np.ndarray:
    return np.clip(z, -EDGE, EDGE)


def standardised(x: np.ndarray, means: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """A missing value counts as the training mean (zero after standardising)."""
    return (np.where(np.isnan(x), means, x) - means) / scales
