"""fit_policy: a logistic regression over recorded signal values, registered as a policy.

It learns P(local answer correct) from the signals the live cascade gives a policy,
the answer's own token features (all twelve of router.confidence.answer_features)
and, when fitted with them, the local model's hidden states, on the user's own
prompts, as a correction to the default router (the router's log-odds count whole, the user's weights are
fitted around them: the router becomes its `prior`), hands off when the probability falls below a cut
(PolicyParams.threshold, else 0.5), explains each decision by the push of each feature on the log-odds
(Decision.contributions, shown on the card), and is compared with the default
router on a held-out split, both replayed as live runs them (learned_report.py).

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

from dataclasses import replace

import numpy as np

from ..errors import UsageError
from ..router import signals as sig
from ..router.after import answer_tokens
from ..router.answer_fit import NAMES as ANSWER_FIT
from ..router.confidence import answer_features
from ..router.learned_policy import (ANSWER_FEATURES, AnswerTerms, LearnedPolicy, LinearReducer, StateTerms,
                                     bounded, log_odds, signal_vector, standardised)
from ..router.policy import POLICIES, register_policy
from ..router.handoff_rate import cut_for_rate
from ..router.states import reads_state
from ..router.trees import LEAF, Trees, joined
from ..router.trees import from_nodes as trees_from_nodes
from ..types import DEFAULT_POLICY
from . import replay
from .learned_report import FEW_ANSWERS, FitReport, fewest_of_a_class, fit_report
from .metrics import auroc
from .recording import state_rows

# the signals a learned policy weighs; self_check is imputed unless fitted with self_check=True (then enable it live)
FEATURES = ("low_confidence", "high_entropy", "repetition", "truncated", "refusal", "format", "prompt_length",
            *sig.QUESTION_FORMS, "answer_confidence", "answer_estimate", "arithmetic", *ANSWER_FIT, "self_check")


def _scaling(X: np.ndarray, train: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each column's training mean and spread (1 where it does not vary), and every row standardised."""
    means = _column_means(X[train])
    scales = np.where(np.isnan(X[train]), means, X[train]).std(axis=0)
    scales[scales == 0] = 1.0
    return standardised(X, means, scales), means, scales


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
C_GRID = (0.03, 0.1, 0.3, 1.0)  # inverse regularisation strengths tried by cross-validation (no default to correct)
# strengths of the correction to the default router tried by cross-validation (heldout/log.md, candidate 13): the
# smallest keeps the user's weights near zero, the router's ranking
CORRECTION_C_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)


def fit_policy(recs: list[replay.Recorded], name: str, th: sig.Thresholds, *, test_size: float = 0.5,
               seed: int = 0, self_check: bool = False, states: np.ndarray | None = None,
               labels: str = "scored items") -> FitReport:
    """self_check=True also learns from the recorded self-check; then run with
    `%config HybridMagics.self_check = True` so the live policy sees it too.
    `states` (one row per item: Experiment.hidden_states, the recorded prompt states) adds the local model's
    hidden state at the last prompt token,
    reduced by PCA fitted on the training split; without them the policy uses the signals only.
    `labels` says where the right/wrong labels came from (the report repeats it). The fit is a correction to the
    default router: the router's log-odds count whole, the user's weights are an L2 logistic regression around them
    (offset_logistic), its strength picked by cross-validation on the training split (_cross_validated_strength,
    the smallest strength keeps the router's ranking), or the smallest when either class has fewer than
    FEW_ANSWERS answers there (heldout/log.md, candidate 16); it is registered as `name`."""
    if name == DEFAULT_POLICY:
        raise UsageError(f"fit_policy: {name!r} is the default router's name; pick another for yours.")
    prior = POLICIES[DEFAULT_POLICY]  # read before anything is registered
    correct = np.array([r.local_score >= 0.5 for r in recs])
    X, raw_answers = _raw_features(recs, th, self_check)
    train, test = _split(correct, test_size, seed)
    if len(set(correct[train])) < 2:
        raise UsageError("fit_policy needs right and wrong local answers in the training split; add items.")
    Z, means, scales = _scaling(X, train)
    A, answer_means, answer_scales = _scaling(raw_answers, train)
    Z = bounded(np.hstack([Z, A]))  # as live bounds them (EDGE)
    found = None if states is None else [r.prompt_state for r in recs]  # each record's, read once
    fitted_on = None if found is None else next((s.model for s in found if s is not None), None)
    if states is not None:
        reduced_train, reduced, reducer = reduce(states[train], states, STATE_COMPONENTS)
        component_scales = reduced_train.std(axis=0).clip(min=1e-9)
        stated = np.array([reads_state(state, fitted_on) for state in found])
        Z = np.hstack([Z, np.where(stated[:, None], reduced / component_scales, 0.0)])  # no state: absent, as live
    if isinstance(prior, LearnedPolicy):  # the prior reads the same recorded values, its columns picked by name
        if prior.answer is None or prior.prior is not None:
            raise ValueError("a prior is a learned policy with answer terms and no prior")
        if prior.reads_states and states is not None and fitted_on != prior.state_model:
            prior = replace(prior, states=None)  # its term reads another model's states: absent, as live
        prior_rows = _policy_columns(X, raw_answers, prior)
        offset, grid = prior.logits(*prior_rows) + _state_terms(recs, prior), CORRECTION_C_GRID
    else:  # no learned default to correct: the user's fit alone, around no offset
        prior, offset, grid = None, np.zeros(len(recs)), C_GRID
    if prior is not None and fewest_of_a_class(correct[train]) < FEW_ANSWERS:
        strength = grid[0]  # folds of a handful of answers pick noise: the router's ranking (candidate 16)
    else:
        strength = _cross_validated_strength(Z[train], offset[train], correct[train], seed, grid)
    intercept, weights = offset_logistic(Z[train], offset[train], correct[train], strength)
    own_states = weights[len(FEATURES) + len(ANSWER_FEATURES):]
    terms = None if states is None else StateTerms(reducer, component_scales, own_states, fitted_on)
    policy = _fitted(name, intercept, weights, (means, scales), (answer_means, answer_scales), terms)
    if prior is not None:  # the router's log-odds count whole (weight 1): the user's weights are its correction
        policy = replace(policy, prior=prior, prior_weight=1.0, bias=policy.bias + prior.bias,
                         early_margin=prior.early_margin)
    register_policy(name, policy)
    return fit_report(recs, policy, th, (train, test), correct, labels, strength)


def _cross_validated_strength(Z: np.ndarray, offset: np.ndarray, correct: np.ndarray, seed: int,
                              grid: tuple[float, ...]) -> float:
    """The strength in `grid` with the best mean AUROC over stratified folds of the training split (five, fewer when
    a class has fewer answers; the smaller strength on a tie: closer to the offset alone); the smallest when a class
    has fewer than two answers."""
    from sklearn.model_selection import StratifiedKFold

    folds = min(5, fewest_of_a_class(correct))
    if folds < 2:
        return grid[0]
    splits = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(Z, correct))
    scores = []
    for strength in grid:
        fold_scores = []
        for fit, held in splits:
            _, weights = offset_logistic(Z[fit], offset[fit], correct[fit], strength)
            fold_scores.append(auroc(-(offset[held] + Z[held] @ weights), ~correct[held]))
        scores.append(float(np.mean(fold_scores)))
    return grid[int(np.nanargmax(scores))]  # the first best: the smaller strength


def _class_balance(correct: np.ndarray) -> np.ndarray:
    """Each answer's weight in a class-balanced loss: both classes weigh half of the total."""
    return np.where(correct, len(correct) / (2 * correct.sum()), len(correct) / (2 * (~correct).sum()))


def offset_logistic(Z: np.ndarray, offset: np.ndarray, correct: np.ndarray, strength: float
                    ) -> tuple[float, np.ndarray]:
    """A class-balanced L2 logistic regression of `correct` on `Z` around a fixed `offset` (log-odds that count with
    weight 1): its intercept and weights. scikit-learn's objective: `strength` times the class-balanced log-loss
    plus half the squared weights, the intercept unpenalised (a small strength keeps the weights near zero)."""
    from scipy.optimize import minimize
    from scipy.special import expit

    correct = np.asarray(correct, dtype=bool)
    if correct.all() or not correct.any():
        raise ValueError("offset_logistic needs right and wrong answers")
    balance = _class_balance(correct)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        eta = offset + theta[0] + Z @ theta[1:]
        residual = balance * (expit(eta) - correct)
        value = strength * float(np.sum(balance * (np.logaddexp(0.0, eta) - correct * eta)))
        gradient = np.concatenate([[strength * residual.sum()], strength * (Z.T @ residual) + theta[1:]])
        return value + 0.5 * float(theta[1:] @ theta[1:]), gradient

    fitted = minimize(loss, np.zeros(Z.shape[1] + 1), jac=True, method="L-BFGS-B")
    if not fitted.success:
        raise RuntimeError(f"offset_logistic: the optimiser did not converge ({fitted.message})")
    return float(fitted.x[0]), fitted.x[1:]


# The shipped default router (router/default_router.json, written by benchmarks/fit_default_router.py): the mean of
# a regression and trees, each fitted on every item (its held-out figures are leave-one-source-out), with fixed
# settings, and without the length features, whose meaning changes with max_tokens (it was fitted on recordings at
# 24 and 128 tokens).
POOLED_LEFT_OUT = ("truncated", "tokens", "hit_limit", "span_tokens")
POOLED_C = 0.1
# the trees it averages with the regression (heldout/log.md, candidates 17 and 18): small, many, slow to learn,
# classes balanced, the same fit every time
POOLED_TREES = {"max_depth": 3, "learning_rate": 0.05, "max_iter": 300, "l2_regularization": 1.0,
                "class_weight": "balanced", "early_stopping": False, "random_state": 0}


def pooled_rows(recs: list[replay.Recorded], th: sig.Thresholds) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What the pooled fits read (every record of several sources, no split): each record's signal values, its
    answer's token features, whether it was right."""
    return (*_raw_features(recs, th, False), np.array([r.local_score >= 0.5 for r in recs]))


def fit_pooled_rows(X: np.ndarray, A: np.ndarray, correct: np.ndarray, name: str) -> LearnedPolicy:
    """The default router's class-balanced logistic regression (strength POOLED_C) over rows already read
    (pooled_rows), so that many fits over subsets of the same sources read each record once; registered as
    `name`. The values are standardised and bounded as live bounds them (heldout/log.md, candidate 15)."""
    from sklearn.linear_model import LogisticRegression

    design, scalings = _pooled_design(X, A)
    model = LogisticRegression(C=POOLED_C, class_weight="balanced", max_iter=3000).fit(design, correct)
    policy = _fitted(name, float(model.intercept_[0]), model.coef_[0], *scalings)
    register_policy(name, policy)
    return policy


def _pooled_design(X: np.ndarray, A: np.ndarray) -> tuple[np.ndarray, tuple[tuple, tuple]]:
    """What both pooled fits are fitted on: the signal values and the answer's token features, standardised on all
    rows and bounded at EDGE as live bounds them, the left-out length features zeroed; and the two scalings."""
    every = np.arange(len(X))
    (Z, means, scales), (Za, answer_means, answer_scales) = _scaling(X, every), _scaling(A, every)
    kept = np.array([feature not in POOLED_LEFT_OUT for feature in FEATURES + ANSWER_FEATURES])
    return bounded(np.hstack([Z, Za])) * kept, ((means, scales), (answer_means, answer_scales))


def fit_pooled_trees_rows(X: np.ndarray, A: np.ndarray, correct: np.ndarray, name: str) -> LearnedPolicy:
    """The same rows, standardised and bounded the same way, weighed by gradient-boosted trees (POOLED_TREES)
    instead of weights, each tree within one group: the signals, or the answer's token features (heldout/log.md,
    candidate 17); the policy's linear weights are zero. Registered as `name`."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    design, scalings = _pooled_design(X, A)
    signals, answers = list(range(len(FEATURES))), list(range(len(FEATURES), design.shape[1]))
    model = HistGradientBoostingClassifier(**POOLED_TREES, interaction_cst=[signals, answers]).fit(design, correct)
    signal_trees, answer_trees = _grouped_trees(model, len(FEATURES))
    bias = float(np.ravel(model._baseline_prediction)[0]) + signal_trees.roots + answer_trees.roots
    policy = _fitted(name, bias, np.zeros(design.shape[1]), *scalings)
    policy = replace(policy, trees=signal_trees, answer=replace(policy.answer, trees=answer_trees))
    register_policy(name, policy)
    return policy


def _grouped_trees(model, signal_columns: int) -> tuple[Trees, Trees]:
    """A fitted HistGradientBoostingClassifier's trees as two Trees: those splitting on the first `signal_columns`
    columns (and any without a split), and those splitting on the rest (their columns counted from there)."""
    groups: tuple[list, list] = ([], [])
    for (tree,) in model._predictors:
        nodes = [{"feature": LEAF if node["is_leaf"] else int(node["feature_idx"]),
                  "threshold": float(node["num_threshold"]), "left": int(node["left"]), "right": int(node["right"]),
                  "value": float(node["value"]), "count": int(node["count"])} for node in tree.nodes]
        answer = any(node["feature"] >= signal_columns for node in nodes)
        if answer and any(node["feature"] != LEAF and node["feature"] < signal_columns for node in nodes):
            raise ValueError("a tree splits on both groups: fit with interaction_cst")
        for node in nodes if answer else ():
            node["feature"] -= signal_columns if node["feature"] != LEAF else 0
        groups[answer].append(nodes)
    depth = max([1] + [int(tree.nodes["depth"].max()) for (tree,) in model._predictors])  # the walk's levels
    return trees_from_nodes(groups[0], depth), trees_from_nodes(groups[1], depth)


# the trees boosted around the default router on everyday prompts (heldout/log.md, candidate 25): few, small,
# slow to learn, classes balanced; each round one tree over the signals and one over the answer's token features
CORRECTION_TREES = {"rounds": 25, "learning_rate": 0.05, "max_depth": 3, "min_leaf": 40, "l2": 1.0}


def fit_correction_trees(recs: list[replay.Recorded], policy: LearnedPolicy, th: sig.Thresholds,
                         name: str) -> LearnedPolicy:
    """`policy` (answer terms, no prior) with trees added that correct its log-odds on `recs`
    (fit_correction_rows over correction_rows). Not registered."""
    return fit_correction_rows(*correction_rows(recs, policy, th), policy, name)


def correction_rows(recs: list[replay.Recorded], policy: LearnedPolicy, th: sig.Thresholds
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What fit_correction_rows reads, so that many fits over subsets of the same sources read each record once:
    over each record, the policy's own standardised, bounded signal values and answer features, its whole log-odds
    (its hidden-state term included as live reads it), whether it was right."""
    _correctable(policy)
    X, A = _policy_columns(*_raw_features(recs, th, False), policy)
    return (bounded(standardised(X, policy.means, policy.scales)),
            bounded(standardised(A, policy.answer.means, policy.answer.scales)),
            policy.logits(X, A) + _state_terms(recs, policy), np.array([r.local_score >= 0.5 for r in recs]))


def _correctable(policy: LearnedPolicy) -> None:
    if policy.answer is None or policy.prior is not None:
        raise ValueError("a correction corrects a learned policy with answer terms and no prior")


def fit_correction_rows(signals: np.ndarray, answers: np.ndarray, offset: np.ndarray, correct: np.ndarray,
                        policy: LearnedPolicy, name: str) -> LearnedPolicy:
    """`policy` with trees added that correct its log-odds over rows read by correction_rows: Newton boosting of
    the class-balanced log-loss (CORRECTION_TREES) with `offset` (the policy's whole log-odds) fixed, each tree
    within one group as the policy's own trees are (the left-out length features never split on). The new trees
    join the policy's, their roots in its bias. Not registered."""
    from scipy.special import expit
    from sklearn.tree import DecisionTreeRegressor

    _correctable(policy)
    if len(set(correct)) < 2:
        raise UsageError("a correction needs right and wrong local answers.")
    groups = [(Z, [i for i, f in enumerate(features) if f not in POOLED_LEFT_OUT])
              for Z, features in ((signals, policy.features), (answers, policy.answer.features))]
    balance = _class_balance(correct)
    settings, grown, nodes = CORRECTION_TREES, np.zeros(len(correct)), ([], [])
    for _ in range(settings["rounds"]):
        for group, (Z, columns) in enumerate(groups):
            p = expit(offset + grown)
            gradient, hessian = balance * (correct - p), np.maximum(balance * p * (1 - p), 1e-12)
            tree = DecisionTreeRegressor(max_depth=settings["max_depth"], min_samples_leaf=settings["min_leaf"],
                                         random_state=0).fit(Z[:, columns], gradient / hessian, sample_weight=hessian)
            leaf = tree.apply(Z[:, columns])
            sums = [np.bincount(leaf, weights=w, minlength=tree.tree_.node_count) for w in (gradient, hessian)]
            values = settings["learning_rate"] * sums[0] / (sums[1] + settings["l2"])  # each leaf's Newton step
            grown += values[leaf]
            nodes[group].append(_tree_nodes(tree.tree_, columns, values))
    signal_trees, answer_trees = (trees_from_nodes(n, settings["max_depth"]) for n in nodes)
    return replace(policy, name=name, bias=policy.bias + signal_trees.roots + answer_trees.roots,
                   trees=joined(policy.trees, signal_trees),
                   answer=replace(policy.answer, trees=joined(policy.answer.trees, answer_trees)), reference=None)


def _tree_nodes(tree, columns: list[int], values: np.ndarray) -> list[dict]:
    """A fitted scikit-learn tree (its `tree_`) as node dicts for trees_from_nodes: its splits' columns mapped back
    through `columns`, each leaf's value from `values` (a split's is recomputed from its leaves)."""
    leaf = tree.children_left == -1
    return [{"feature": LEAF if leaf[i] else columns[int(tree.feature[i])], "threshold": float(tree.threshold[i]),
             "left": int(tree.children_left[i]), "right": int(tree.children_right[i]), "value": float(values[i]),
             "count": int(tree.n_node_samples[i])} for i in range(tree.node_count)]


def averaged(first: LearnedPolicy, second: LearnedPolicy, name: str) -> LearnedPolicy:
    """One policy whose log-odds are the mean of two fitted on the same rows (heldout/log.md, candidate 18): their
    weights, tree values, biases and hidden-state terms (which must share their reduction) halved and summed; the
    first's early margin. Not registered."""
    same = (first.features == second.features and first.answer.features == second.answer.features
            and all(np.array_equal(getattr(a, k), getattr(b, k)) for a, b in ((first, second),
                    (first.answer, second.answer)) for k in ("means", "scales")))
    if not same or (first.states is None) != (second.states is None):
        raise ValueError("averaged() needs two policies standardised on the same rows, both with or without states")
    if first.prior is not None or second.prior is not None:
        raise ValueError("averaged() takes policies without a prior")

    def mean_trees(a: Trees | None, b: Trees | None) -> Trees | None:
        if a is not None and b is not None:
            raise ValueError("averaged() takes trees from one of the two policies only")
        kept = a if a is not None else b
        return None if kept is None else replace(kept, value=0.5 * kept.value)

    answer = replace(first.answer, weights=0.5 * (first.answer.weights + second.answer.weights),
                     trees=mean_trees(first.answer.trees, second.answer.trees))
    states = first.states
    if states is not None:
        other = second.states
        if not (all(np.array_equal(getattr(states.reducer, k), getattr(other.reducer, k))
                    for k in ("centre", "scale", "components"))
                and np.array_equal(states.scales, other.scales) and states.model == other.model):
            raise ValueError("averaged() needs hidden-state terms over the same reduction")
        states = replace(states, weights=0.5 * (states.weights + other.weights), bias=0.5 * (states.bias + other.bias))
    return replace(first, name=name, weights=0.5 * (first.weights + second.weights),
                   trees=mean_trees(first.trees, second.trees), bias=0.5 * (first.bias + second.bias),
                   answer=answer, states=states, reference=None)


def _fitted(name: str, intercept: float, weights: np.ndarray, signal_scaling: tuple, answer_scaling: tuple,
            states: StateTerms | None = None) -> LearnedPolicy:
    """A fitted regression as a LearnedPolicy (not registered): its weights on FEATURES, then on ANSWER_FEATURES
    (state components, if any, come after and belong to `states`)."""
    answer_end = len(FEATURES) + len(ANSWER_FEATURES)
    answer = AnswerTerms(ANSWER_FEATURES, *answer_scaling, weights[len(FEATURES):answer_end])
    return LearnedPolicy(name, FEATURES, *signal_scaling, weights[:len(FEATURES)], intercept, states=states,
                         answer=answer)


def _state_terms(recs: list[replay.Recorded], policy: LearnedPolicy) -> np.ndarray:
    """Each record's hidden-state term of `policy` as live reads it: zero without a recorded state, or with one
    from other weights than the term was fitted on (router.states.state_hook)."""
    terms = np.zeros(len(recs))
    if policy.reads_states:
        for i, rec in enumerate(recs):
            state = rec.prompt_state
            if reads_state(state, policy.state_model):
                terms[i] = policy.state_logit(state.vector)
    return terms


# The default router's hidden-state term (heldout/log.md, candidate 12): principal components kept, and the strength
POOLED_STATE_COMPONENTS = 16
POOLED_STATE_C = 0.01


def fit_state_term(recs: list[replay.Recorded], policy: LearnedPolicy, th: sig.Thresholds,
                   calibration: list[replay.Recorded]) -> StateTerms:
    """A hidden-state term for `policy` (its weights kept): the prompt states of `recs` standardised and reduced
    to POOLED_STATE_COMPONENTS principal components, each divided by its spread, weighed by a class-balanced L2
    logistic regression (strength POOLED_STATE_C) with the policy's own after-stage log-odds as a fixed offset.
    The term's constant is then set so that, with it, the after-stage estimate hands off as many of the
    `calibration` answers that have a state as were wrong (the policy's own cut was set to the same count on its
    training answers, there by replay on the knob's grid); without a state the policy is unchanged."""
    models = {s.model for s in (r.prompt_state for r in recs) if s is not None}
    if len(models) != 1:
        raise UsageError(f"fit_state_term needs recordings with the hidden states of one model (backend="
                         f"'transformers'), not of {len(models)}.")
    states, correct = state_rows(recs), np.array([r.local_score >= 0.5 for r in recs])
    if len(set(correct)) < 2:
        raise UsageError("fit_state_term needs right and wrong local answers; add items.")
    reduced, _, pipeline = reduce(states, states[:1], POOLED_STATE_COMPONENTS)
    spreads = reduced.std(axis=0).clip(min=1e-9)
    Z, offset = reduced / spreads, _after_logits(recs, policy, th)
    _, weights = offset_logistic(Z, offset, correct, POOLED_STATE_C)
    terms = StateTerms(LinearReducer.from_pipeline(pipeline), spreads, weights, models.pop())
    # the constant: as many stated calibration answers below the cut (log-odds 0 at the knob's 0.5) as were wrong
    with_states = replace(policy, states=terms)
    stated = [r for r in calibration if reads_state(r.prompt_state, terms.model)]
    wrong = sum(r.local_score < 0.5 for r in stated)
    if not 0 < wrong < len(stated):
        raise UsageError("fit_state_term needs right and wrong calibration answers with hidden states.")
    estimate = _after_logits(stated, policy, th) + _state_terms(stated, with_states)
    edge, _ = cut_for_rate(estimate.tolist(), wrong / len(stated))
    return replace(terms, bias=-float(edge))


def _after_logits(recs: list[replay.Recorded], policy: LearnedPolicy, th: sig.Thresholds) -> np.ndarray:
    """The policy's log-odds over each whole recorded answer, without its hidden-state term."""
    X, A = _raw_features(recs, th, False)
    return policy.logits(*_policy_columns(X, A, policy))


def _policy_columns(X: np.ndarray, A: np.ndarray, policy: LearnedPolicy) -> tuple[np.ndarray, np.ndarray]:
    """Rows of every signal (FEATURES) and answer feature (ANSWER_FEATURES) cut to the columns `policy` reads."""
    return (X[:, [FEATURES.index(f) for f in policy.features]],
            A[:, [ANSWER_FEATURES.index(f) for f in policy.answer.features]])


def with_cut(policy: LearnedPolicy, cut: float) -> LearnedPolicy:
    """The same ranking with the bias moved so that the knob's 0.5 hands off where `cut` did."""
    return replace(policy, bias=policy.bias - log_odds(cut))


def _raw_features(recs: list[replay.Recorded], th: sig.Thresholds, self_check: bool) -> tuple[np.ndarray, np.ndarray]:
    """Each item's signal values (FEATURES) and its answer's token features (ANSWER_FEATURES), NaN where missing."""
    X = np.array([signal_vector(replay.answer_signals(r, th, self_check), FEATURES) for r in recs])
    answer_rows = [answer_features(answer_tokens(r.events)) for r in recs]  # the tokens live %%hybrid keeps
    return X, np.array([[row.get(name, np.nan) for name in ANSWER_FEATURES] for row in answer_rows], dtype=float)


def reduce(train: np.ndarray, test: np.ndarray, components: int) -> tuple[np.ndarray, np.ndarray, object]:
    """PCA fitted on the training rows only (standardised), applied to both."""
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    k = max(1, min(components, len(train) - 1, train.shape[1]))
    pipeline = make_pipeline(StandardScaler(), PCA(n_components=k, random_state=0)).fit(train)
    return pipeline.transform(train), pipeline.transform(test), pipeline
