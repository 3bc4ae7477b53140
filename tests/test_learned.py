"""The personal router live: hidden-state terms in %%hybrid, the card's explanation, votes as labels,
and `%hybrid calibrate --handoff-rate`.

Real SmolLM2 (transformers, and llama.cpp for a backend without hidden states), a real IPython
shell and a real ledger. Cells run with --private, so no cloud is needed: a learned handoff is
then requested and blocked, which is enough to see what the policy decided and why.
"""
from __future__ import annotations


import numpy as np
import pytest

from hybrid_magic.experiments import Experiment
from hybrid_magic.experiments.corpus import corpus
from hybrid_magic.experiments.datasets import item_key
from hybrid_magic.ledger import Ledger
from hybrid_magic.router import handoff_rate
from hybrid_magic.router.confidence import answer_features
from hybrid_magic.subcommands import own_estimates
from hybrid_magic.router.policy import POLICIES
from hybrid_magic.router.signals import Thresholds
from hybrid_magic.types import DEFAULT_POLICY, Decision, LocalStats, RunRecord, Signal

MAX_TOKENS = 8
PROMPT = "What is the capital of Italy?"


@pytest.fixture(scope="module")
def transformers_backend(model_dir):
    from hybrid_magic.backends import get_backend
    from hybrid_magic.models import resolve

    return get_backend("transformers", resolve("smollm2-135m", str(model_dir.parent)))[0]


@pytest.fixture(scope="module")
def states_policy(transformers_backend, tmp_path_factory):
    """A policy fitted with hidden states on 8 corpus items (capitals right, word lengths wrong)."""
    items = corpus(4, families=["capital_city", "word_length"])
    exp = Experiment(items, local=transformers_backend, max_tokens=MAX_TOKENS,
                     store=str(tmp_path_factory.mktemp("learned") / "e.db"))
    exp.run(progress=False)
    report = exp.fit_policy("personal-states", test_size=0.5, seed=0)
    assert report.hidden_states
    return report.policy


def run_cell(shell, line: str, prompt: str = PROMPT):
    shell.run_cell_magic("hybrid", f"--private --max-tokens {MAX_TOKENS} --out learned_run {line}", prompt)
    return shell.user_ns.pop("learned_run").record


def test_live_hybrid_reads_the_cells_hidden_states_for_a_states_policy(shell, magics, states_policy,
                                                                       transformers_backend):
    from hybrid_magic.display.mime import provenance_bundle
    from hybrid_magic.display.render import card_html
    from hybrid_magic.display.widgets import DecisionCard

    record = run_cell(shell, "--policy personal-states")
    signals = record.decision.signals
    states = next(s for s in signals if s.name == "hidden_states")
    vector = record.tokens[0].prompt_state.vector  # read during the cell's own prefill
    assert states.available and states.value == pytest.approx(states_policy.state_logit(vector), abs=1e-6)
    answer = next(s for s in signals if s.name == "answer_features")  # the answer's own token features
    expected = states_policy.answer_logit(answer_features(record.tokens))
    assert answer.available and answer.value == pytest.approx(expected, abs=1e-6) and expected != 0.0
    without = [s for s in signals if s.name != "hidden_states"]
    assert states_policy.p_correct(signals) != pytest.approx(states_policy.p_correct(without), abs=1e-9)
    assert states_policy.p_correct(signals) == pytest.approx(states_policy.p_correct(without, vector), abs=1e-6)
    top = record.decision.contributions[:3]
    assert top and abs(top[0][1]) >= abs(top[-1][1])
    line = ", ".join(f"{name} {value:+.2f}" for name, value in top)
    assert line in card_html(record)  # the text/html card
    assert line in DecisionCard(record).badge.value  # the widget
    bundle = provenance_bundle(record)
    assert bundle["contributions"][0] == {"feature": top[0][0], "log_odds": top[0][1]}
    cascade = run_cell(shell, "--policy cascade")  # the default path reads no state and explains nothing new
    assert "hidden_states" not in {s.name for s in cascade.decision.signals}
    assert cascade.decision.contributions == () and provenance_bundle(cascade)["contributions"] is None
    estimates = [s.value for r in (record, cascade) for s in r.decision.signals if s.name == "answer_estimate"]
    assert sorted(own_estimates(magics.engine.ledger.runs())) == sorted(estimates)  # what calibrate reads


def test_a_states_policy_on_llamacpp_decides_on_the_signals_and_says_so(shell, magics, states_policy):
    from hybrid_magic.display.render import card_html

    record = run_cell(shell, "--backend llamacpp --policy personal-states")
    states = next(s for s in record.decision.signals if s.name == "hidden_states")
    assert not states.available and "llamacpp backend exposes no hidden states" in states.message
    assert record.error is None and record.answer
    assert "hidden-state terms unavailable: the llamacpp backend exposes no hidden states" in card_html(record)
    assert dict(record.decision.contributions)["hidden_states"] == 0.0  # the training mean


def test_the_default_router_reads_the_cells_hidden_state_on_transformers_only(shell, magics, transformers_backend):
    """Candidate 12 (heldout/log.md): the shipped router's state term, read live from the cell's own prefill on
    transformers; on llama.cpp the signal says why it is missing and the term is absent (the router without it)."""
    router = POLICIES[DEFAULT_POLICY]
    record = run_cell(shell, "--backend transformers")
    states = next(s for s in record.decision.signals if s.name == "hidden_states")
    vector = record.tokens[0].prompt_state.vector
    assert states.available and states.value == pytest.approx(router.state_logit(vector), abs=1e-6)
    assert states.value != 0.0 and dict(record.decision.contributions)["hidden_states"] == pytest.approx(
        states.value, abs=1e-3)
    llama = run_cell(shell, "--backend llamacpp")
    missing = next(s for s in llama.decision.signals if s.name == "hidden_states")
    assert not missing.available and "llamacpp backend exposes no hidden states" in missing.message
    assert dict(llama.decision.contributions)["hidden_states"] == 0.0 and llama.answer


def test_fit_policy_on_llamacpp_says_the_hidden_states_were_not_used(tmp_path):
    from hybrid_magic.backends import get_backend
    from hybrid_magic.models import resolve

    llama, _ = get_backend("llamacpp", resolve("smollm2-135m", "/nonexistent-cache", convert=False))
    items = corpus(2, families=["capital_city", "word_length"])
    labelled = lambda answer, item: float(item["family"] == "capital_city")  # noqa: E731
    labelled.takes_item = True
    exp = Experiment(items, local=llama, scorer=labelled, max_tokens=MAX_TOKENS, store=str(tmp_path / "l.db"))
    exp.run(progress=False)
    report = exp.fit_policy("llama-signals", test_size=0.5, seed=0)
    assert not report.hidden_states and report.policy.states is None
    assert str(report).endswith("Hidden states were not used: the llamacpp backend exposes none "
                                "(Experiment(..., backend='transformers') reads them).")


def compare_row(ledger: Ledger, prompt: str, messages: list[dict] | None = None) -> int:
    """A %%compare cell's local row; `messages`: its chat as the ledger keeps it (None: an older row without)."""
    decision = Decision("local", False, False, None, (), "compare")
    record = RunRecord("compare", decision, None, None, "2026-01-01T00:00:00Z", answer="")
    return ledger.record_run(record, prompt_redacted=prompt, all_cloud_cost_usd=None, messages_redacted=messages)


SYSTEM = "Answer in one word, or say so."  # "or" in the system prompt: the question's form must not read it
EARLIER = [{"role": "user", "content": "How many legs has a cat?"}, {"role": "assistant", "content": "Four."}]


def test_a_vote_keeps_the_cells_system_prompt_and_history_apart_from_its_question(isolated_home):
    ledger = Ledger(isolated_home / "ledger.sqlite")
    chat = [{"role": "system", "content": SYSTEM}, *EARLIER, {"role": "user", "content": "Capital of Peru?"}]
    ledger.set_vote(compare_row(ledger, "\n\n".join(m["content"] for m in chat)), "local")  # before the upgrade...
    ledger.set_vote(compare_row(ledger, "\n\n".join(m["content"] for m in chat), chat), "cloud")  # ...and again
    ledger.set_vote(compare_row(ledger, "Be brief.\n\nCapital of Chile?"), "local")  # an older row: no chat kept
    joined_alike = [{"role": "user", "content": "\n\n".join(m["content"] for m in chat)}]  # same text, one message
    ledger.set_vote(compare_row(ledger, joined_alike[0]["content"], joined_alike), "local")
    ledger.set_vote(compare_row(ledger, joined_alike[0]["content"], joined_alike), "tie")  # voted again: latest
    ledger.set_vote(compare_row(ledger, "Capital of Bolivia?"), "local")  # a plain prompt, voted before the upgrade
    bolivia = [{"role": "user", "content": "Capital of Bolivia?"}]
    ledger.set_vote(compare_row(ledger, "Capital of Bolivia?", bolivia), "cloud")  # and again after: one chat
    exp = Experiment.from_votes(ledger, store=str(isolated_home / "votes.db"))
    assert len(exp.items) == 4, "a chat voted before and after the upgrade is one item"
    joined, chile, bolivia_item, peru = sorted(exp.items, key=lambda item: item["prompt"])
    assert bolivia_item["vote"] == "cloud" and exp.messages(bolivia_item) == bolivia
    assert joined["vote"] == "tie" and exp.messages(joined) == joined_alike, "another chat, though its text is alike"
    assert peru["vote"] == "cloud" and peru["prompt"] == "Capital of Peru?" and peru["system"] == SYSTEM
    assert peru["history"] == EARLIER
    assert exp.messages(peru) == chat, "the item replays the cell's chat as it ran"
    assert chile["prompt"] == "Be brief.\n\nCapital of Chile?" and exp.messages(chile) == [
        {"role": "user", "content": chile["prompt"]}]
    plain = {key: value for key, value in peru.items() if key not in ("system", "history")}
    assert item_key(peru) != item_key(plain), "another context is another stored answer"
    assert item_key({"id": "a", "prompt": "Hi"}) == "a#94dd9e08c1", "keys of plain items (existing stores) stay"


def test_votes_in_the_ledger_become_labelled_items_for_fit_policy(transformers_backend, isolated_home, tmp_path):
    ledger = Ledger(isolated_home / "ledger.sqlite")
    items = corpus(4, families=["capital_city", "word_length"])
    for item in items:  # the user voted local on capitals and cloud on word lengths
        ledger.set_vote(compare_row(ledger, item["prompt"]), "local" if item["family"] == "capital_city" else "cloud")
    ledger.set_vote(compare_row(ledger, items[0]["prompt"]), "tie")  # voted again: the latest vote counts
    chat = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "How much is 2 and 2?"}]
    ledger.set_vote(compare_row(ledger, f"{SYSTEM}\n\nHow much is 2 and 2?", chat), "local")  # run with --system
    exp = Experiment.from_votes(ledger, local=transformers_backend, max_tokens=MAX_TOKENS,
                                store=str(tmp_path / "votes.db"))
    exp.run(progress=False)
    recorded = {rec.item["prompt"]: rec for rec in exp.recorded()}
    scores = {prompt: rec.local_score for prompt, rec in recorded.items()}
    assert scores == {"How much is 2 and 2?": 1.0, **{item["prompt"]: float(item["family"] == "capital_city")
                                                       for item in items}}
    facts = recorded["How much is 2 and 2?"].prepared(Thresholds()).facts
    assert facts.question == "How much is 2 and 2?" and SYSTEM in facts.text, "the live cell's question, its chat"
    count = transformers_backend.count_prompt_tokens
    assert (facts.prompt_tokens, facts.question_tokens) == (count(chat), count(chat[-1:])), "as the live cell counts"
    report = exp.fit_policy("from-votes", test_size=0.5, seed=0)
    assert report.train_size + report.test_size == 9 and report.wrong_answers == 4
    assert "9 %%compare votes (local 4, tie 1, cloud 4)" in str(report) and report.verdict in str(report)


def hybrid_row(ledger: Ledger, estimate: float | None, backend: str = "transformers") -> None:
    signal = Signal("answer_estimate", "after", estimate, 0.5, False, "", available=estimate is not None)
    record_decision(ledger, Decision("local", False, False, None, (signal,), "cascade"), backend)


def record_decision(ledger: Ledger, decision: Decision, backend: str = "transformers") -> None:
    local = LocalStats(backend=backend, model="smollm2-135m")
    ledger.record_run(RunRecord("hybrid", decision, local, None, "2026-01-01T00:00:00Z"), prompt_redacted="p",
                      all_cloud_cost_usd=None)


def test_calibrate_sets_the_threshold_for_a_handoff_rate_on_the_users_cells(shell, magics, capsys):
    magics.policy = "cascade"  # its knob cuts answer_estimate
    values = np.linspace(0.05, 0.95, 40)
    for value in values:
        hybrid_row(magics.engine.ledger, float(value))
    hybrid_row(magics.engine.ledger, None)  # handed off before its answer: no estimate to learn from
    for value in np.linspace(0.9, 0.99, 40):  # another runtime's estimates spread differently: not counted
        hybrid_row(magics.engine.ledger, float(value), backend="mlx")
    shell.run_line_magic("hybrid", "calibrate --handoff-rate 30%")
    out = capsys.readouterr().out
    assert np.mean(values < magics.threshold) == pytest.approx(0.3)
    assert "on 30% of your 40 past %%hybrid cells on transformers · smollm2-135m (target 30%)" in out
    magics.backend = "llamacpp"  # no cells of its own yet: the reference, and it says why
    shell.run_line_magic("hybrid", "calibrate --handoff-rate 30%")
    assert "only 0 of your cells on llamacpp · smollm2-135m have an answer_estimate" in capsys.readouterr().out
    shell.run_line_magic("hybrid", "calibrate --handoff-rate 2")
    shell.run_line_magic("hybrid", "calibrate --rate 0.3")
    errors = capsys.readouterr().err.strip().splitlines()
    assert errors == ["hybrid_magic: --handoff-rate takes a share of cells between 0 and 1 (e.g. 0.3 or 30%), "
                      "not '2'.",
                      "hybrid_magic: %hybrid calibrate takes --handoff-rate R, a share of cells between 0 and 1 "
                      "(e.g. %hybrid calibrate --handoff-rate 0.3)."]


def test_calibrate_uses_the_shipped_reference_without_enough_cells(shell, magics, capsys):
    for policy, stored in ((DEFAULT_POLICY, POLICIES[DEFAULT_POLICY].reference), ("cascade", handoff_rate.reference())):
        magics.policy = policy
        shell.run_line_magic("hybrid", "calibrate --handoff-rate 0.5")
        median = stored["quantiles"][stored["levels"].index(0.5)]
        assert magics.threshold == pytest.approx(median, abs=1e-4)
        assert "the reference distribution" in capsys.readouterr().out
    assert POLICIES[DEFAULT_POLICY].reference["items"] > 1000  # the router's own training answers


def answer_term_signal(term: float) -> Signal:
    return Signal("answer_features", "after", float(term), None, False, "")


def test_calibrate_cuts_the_default_routers_own_estimates_of_the_users_cells(shell, magics, capsys):
    """The default router's knob is its cut: calibrate reads its estimate of each past cell it decided, recomputed
    from the signals the ledger kept (here only its answer term moves), never another policy's cells, cells its
    estimate did not decide (sent before the local model ran, a firm request) nor cells recorded before a
    before-signal it weighs existed."""
    from hybrid_magic.prompt import PromptFacts, before_signals

    router = POLICIES[DEFAULT_POLICY]
    before = tuple(before_signals(PromptFacts("What is 2 + 3?", 20, 8, 2048, question_tokens=12)))
    terms = np.linspace(-3.0, 3.0, 40)
    for term in terms:
        record_decision(magics.engine.ledger, Decision("local", False, False, None, (*before, answer_term_signal(term)),
                                                       DEFAULT_POLICY))
    # an older version's cell, without the question-form signals the router weighs: its estimate would impute them
    record_decision(magics.engine.ledger, Decision("local", False, False, None, (answer_term_signal(-3.0),),
                                                   DEFAULT_POLICY))
    hybrid_row(magics.engine.ledger, 0.99)  # a cascade cell: not the router's
    forced = Signal("forced_cloud", "before", 1.0, None, True, "--cloud")  # sent before the local model ran
    record_decision(magics.engine.ledger, Decision("cloud", True, True, None, (forced,), DEFAULT_POLICY))
    broken = Signal("format", "after", 0.0, None, True, "not JSON")  # a firm request, not its estimate's doing
    record_decision(magics.engine.ledger, Decision("cloud", True, True, None, (answer_term_signal(3.0), broken),
                                                   DEFAULT_POLICY))
    estimates = np.array([router.p_correct([*before, answer_term_signal(t)]) for t in terms])
    assert estimates.min() < 0.2 and estimates.max() > 0.8
    shell.run_line_magic("hybrid", "calibrate --handoff-rate 25%")
    assert np.mean(estimates < magics.threshold) == pytest.approx(0.25)
    assert (f"the {DEFAULT_POLICY} policy's estimate falls below it on 25% of your 40 past %%hybrid cells"
            in capsys.readouterr().out)


def test_the_reference_was_computed_under_the_current_answer_estimate_weights():
    """Fails when router/confidence.py's weights change without re-running experiments/reference.py."""
    from hybrid_magic.router import confidence

    stored = handoff_rate.reference()
    assert stored["weights"] == {k: list(v) for k, v in confidence.WEIGHTS.items()}
    assert stored["bias"] == confidence.BIAS and stored["items"] >= 200
    assert stored["quantiles"] == sorted(stored["quantiles"])


@pytest.mark.parametrize("values, rate, threshold, achieved", [
    ([0.1, 0.2, 0.3, 0.4], 0.5, 0.25, 0.5),
    ([0.1, 0.2, 0.3, 0.4], 0.0, 0.0, 0.0),
    ([0.1, 0.2, 0.3, 0.4], 1.0, 0.4, 1.0),
    ([0.2, 0.2, 0.2, 0.9], 0.5, 0.2, 0.0),  # ties: the share actually below is reported, not the target
])
def test_cut_for_rate(values, rate, threshold, achieved):
    found, share = handoff_rate.cut_for_rate(values, rate)
    assert found == pytest.approx(threshold) and share == achieved


def test_report_says_plainly_when_the_learned_policy_does_not_beat_the_default():
    from hybrid_magic.experiments.learned_report import FitReport, paired_intervals

    wrong = np.array([True, False] * 10)
    good, bad = np.where(wrong, 1.0, 0.0) + np.linspace(0, 0.1, 20), np.linspace(0, 1, 20)
    learned_ci, default_ci, gain_ci = paired_intervals(bad, good, wrong)
    report = FitReport("x", {}, 20, 20, 0.1, 0.5, 0.5, 1.0, "oracle", "%%hybrid --policy x", None,
                       learned_ci, 20, False, default_ci, gain_ci)
    assert "does NOT beat the default router on the held-out split" in str(report) and gain_ci[1] < 0
    assert "Data: 40 scored items (20 local errors), 20 to fit, 20 held out" in str(report)


def test_the_compare_view_explains_what_a_learned_policy_would_decide():
    from types import SimpleNamespace

    from hybrid_magic.display.compare_view import would_html

    pushes = (("answer_estimate", -1.2), ("hidden_states", -0.8), ("prompt_length", 0.3), ("refusal", 0.1))
    would = Decision("cloud", True, True, None, (), "mine", reason="mine", contributions=pushes)
    shown = would_html(SimpleNamespace(would=would))
    assert ("policy mine (log-odds of a right local answer): answer_estimate -1.20, hidden_states -0.80, "
            "prompt_length +0.30</div>") in shown


def test_the_answer_term_lists_every_router_answer_feature_and_only_learned_policies_read_it():
    from hybrid_magic.experiments.learned import ANSWER_FEATURES
    from hybrid_magic.router.answer_terms import answer_hook
    from hybrid_magic.types import TokenEvent

    tokens = [TokenEvent("The answer is", 1, -0.2, top_logprobs=(("The", -0.2), ("A", -2.0))),
              TokenEvent(" Rome.", 2, -0.1, top_logprobs=((" Rome", -0.1), (" Paris", -3.0)))]
    assert set(ANSWER_FEATURES) == set(answer_features(tokens))
    assert answer_hook("cascade") is None and answer_hook("no-such-policy") is None


def test_a_states_policy_never_reads_another_models_states(states_policy):
    from hybrid_magic.router.states import state_hook
    from hybrid_magic.types import PromptState, TokenEvent

    own = states_policy.state_model
    assert own is not None and own.startswith("llama-576x30-")
    read = state_hook("personal-states", "no state")
    vector = tuple(0.0 for _ in range(2 * 576))
    assert read([TokenEvent("Rome", 1, -0.1, prompt_state=PromptState(own, vector))]).available
    other = read([TokenEvent("Rome", 1, -0.1, prompt_state=PromptState("llama-576x30-0000000000000000", vector))])
    assert not other.available and "not those the policy was fitted on" in other.message
    stateless = read([TokenEvent("Rome", 1, -0.1)])
    assert not stateless.available and "no state" in stateless.message
    silent = read([])
    assert not silent.available and "no token was generated" in silent.message


def test_a_policy_with_a_prior_adds_the_priors_log_odds_and_names_it():
    """A policy over the default router (fit_policy's correction), on hand-made weights: the prior's share is one
    term named after it, its answer part rides in the answer_features term (one value, as live reads it)."""
    from hybrid_magic.router.learned_policy import AnswerTerms, LearnedPolicy

    def policy(name, weight, answer_weight, bias, **extra):
        answer = AnswerTerms(("span_first_logprob",), np.zeros(1), np.ones(1), np.array([answer_weight]))
        return LearnedPolicy(name, ("low_confidence",), np.zeros(1), np.ones(1), np.array([weight]), bias,
                             answer=answer, **extra)

    prior = policy("router", 2.0, 0.5, -0.3)
    blended = policy("mine", 1.0, -1.0, 0.2, prior=prior, prior_weight=0.5)
    values = {"span_first_logprob": -2.0}
    assert blended.answer_logit(values) == 2.0 + 0.5 * -1.0  # its own answer part, then the prior's
    signals = [Signal("low_confidence", "during", 0.4, 0.25, False, ""), answer_term(blended.answer_logit(values))]
    terms = blended.contributions(signals)
    assert terms["router"] == pytest.approx(0.5 * 2.0 * 0.4), "its feature terms: its bias is folded into ours"
    assert terms["low_confidence"] == pytest.approx(0.4) and terms["answer_features"] == pytest.approx(1.5)
    own_logit, prior_terms = 0.4 + 2.0 + 0.2, 0.8 - 1.0
    assert blended.p_correct(signals) == pytest.approx(1 / (1 + np.exp(-(own_logit + 0.5 * prior_terms))))



def test_the_correction_to_the_router_is_scikit_learns_objective_around_a_fixed_offset():
    """fit_policy's correction (heldout/log.md, candidate 13): with no offset, offset_logistic is scikit-learn's
    class-balanced L2 logistic regression; around an offset that already ranks every answer, cross-validation
    keeps the smallest strength (the router's ranking) and the user's weights stay near zero."""
    from sklearn.linear_model import LogisticRegression

    from hybrid_magic.experiments.learned import CORRECTION_C_GRID, _cross_validated_strength, offset_logistic

    rng = np.random.default_rng(0)
    Z = rng.normal(size=(60, 3))
    correct = Z[:, 0] + 0.5 * rng.normal(size=60) > 0.3
    intercept, weights = offset_logistic(Z, np.zeros(60), correct, 0.3)
    reference = LogisticRegression(C=0.3, class_weight="balanced", tol=1e-10, max_iter=10000).fit(Z, correct)
    assert np.allclose(weights, reference.coef_[0], atol=1e-4)
    assert intercept == pytest.approx(reference.intercept_[0], abs=1e-4)
    ranked = np.where(correct, 2.0, -2.0) + rng.normal(scale=0.1, size=60)  # the router already right on each
    noise = rng.normal(size=(60, 3))
    assert _cross_validated_strength(noise, ranked, correct, 0, CORRECTION_C_GRID) == CORRECTION_C_GRID[0]
    _, kept = offset_logistic(noise, ranked, correct, CORRECTION_C_GRID[0])
    assert np.abs(kept).max() < 0.01
    uninformed = 0.3 * rng.normal(size=60)  # a router that knows nothing here: the user's own values decide
    assert _cross_validated_strength(Z, uninformed, correct, 0, CORRECTION_C_GRID) > CORRECTION_C_GRID[0]
    with pytest.raises(ValueError, match="right and wrong"):
        offset_logistic(Z, uninformed, np.ones(60, dtype=bool), 0.3)


def test_the_pooled_router_is_fitted_on_the_values_live_reads():
    """fit_pooled_rows (the default router's fit; heldout/log.md, candidate 15) fits the standardised values
    bounded at EDGE spreads, as live reads them: with outliers in a column, its live log-odds fit the training
    answers better, by its own objective, than weights fitted on the unbounded values."""
    from sklearn.linear_model import LogisticRegression

    from hybrid_magic.experiments.learned import (FEATURES, POOLED_C, POOLED_LEFT_OUT, _fitted, _scaling,
                                                  fit_pooled_rows)
    from hybrid_magic.router.learned_policy import ANSWER_FEATURES

    rng = np.random.default_rng(1)
    X, A = rng.normal(size=(400, len(FEATURES))), rng.normal(size=(400, len(ANSWER_FEATURES)))
    correct = X[:, 0] + 0.7 * rng.normal(size=400) > 0
    X[np.flatnonzero(~correct)[:10], 0] = 60.0  # far outliers that live reads as 3 spreads
    bounded_fit = fit_pooled_rows(X, A, correct, "pooled-bounded")
    every = np.arange(400)
    (Z, means, scales), (Za, answer_means, answer_scales) = _scaling(X, every), _scaling(A, every)
    kept = np.array([name not in POOLED_LEFT_OUT for name in FEATURES + ANSWER_FEATURES])
    raw = LogisticRegression(C=POOLED_C, class_weight="balanced", max_iter=3000)
    raw.fit(np.hstack([Z, Za]) * kept, correct)
    unbounded_fit = _fitted("pooled-unbounded", float(raw.intercept_[0]), raw.coef_[0], (means, scales),
                            (answer_means, answer_scales))
    balance = np.where(correct, 200 / correct.sum(), 200 / (~correct).sum())

    def objective(policy) -> float:  # scikit-learn's, on the log-odds live computes
        logits = policy.logits(X, A)
        weights = np.concatenate([policy.weights, policy.answer.weights])
        loss = float(np.sum(balance * (np.logaddexp(0, logits) - correct * logits)))
        return POOLED_C * loss + 0.5 * weights @ weights

    assert objective(bounded_fit) < objective(unbounded_fit) - 1e-3


def test_the_pooled_trees_read_the_values_live_reads_each_within_one_group_and_average_with_the_regression():
    """fit_pooled_trees_rows (heldout/log.md, candidate 17): gradient-boosted trees over the standardised values
    bounded at EDGE spreads, as live reads them; the policy's log-odds equal the fitted model's on those values,
    every tree splits on the signals only or on the answer's token features only, none on a left-out length
    feature, and it learns an interaction a sum of weights cannot. averaged() (candidate 18) is the mean of the
    two log-odds, live and in batch."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    from hybrid_magic.experiments.learned import (FEATURES, POOLED_LEFT_OUT, POOLED_TREES, _scaling, averaged,
                                                  fit_pooled_rows, fit_pooled_trees_rows)
    from hybrid_magic.router.learned_policy import ANSWER_FEATURES, bounded
    from hybrid_magic.router.trees import LEAF
    from hybrid_magic.types import Signal

    rng = np.random.default_rng(1)
    X, A = rng.normal(size=(600, len(FEATURES))), rng.normal(size=(600, len(ANSWER_FEATURES)))
    X[:5, 0] = 60.0  # far outliers that live reads as 3 spreads
    correct = X[:, 0] * X[:, 1] + A[:, 0] + 0.5 * rng.normal(size=600) > 0  # an interaction within the signals
    trees = fit_pooled_trees_rows(X, A, correct, "pooled-trees")
    every = np.arange(600)
    (Z, _, _), (Za, _, _) = _scaling(X, every), _scaling(A, every)
    kept = np.array([name not in POOLED_LEFT_OUT for name in FEATURES + ANSWER_FEATURES])
    groups = [list(range(len(FEATURES))), list(range(len(FEATURES), len(FEATURES) + len(ANSWER_FEATURES)))]
    model = HistGradientBoostingClassifier(**POOLED_TREES, interaction_cst=groups)
    model.fit(bounded(np.hstack([Z, Za])) * kept, correct)
    assert np.allclose(trees.logits(X, A), model.decision_function(bounded(np.hstack([Z, Za])) * kept))
    assert not np.any(trees.weights) and not np.any(trees.answer.weights)
    split_on = {FEATURES[c] for c in trees.trees.feature.ravel() if c != LEAF}
    split_on |= {ANSWER_FEATURES[c] for c in trees.answer.trees.feature.ravel() if c != LEAF}
    assert {FEATURES[0], FEATURES[1], ANSWER_FEATURES[0]} <= split_on and not split_on & set(POOLED_LEFT_OUT)
    linear = fit_pooled_rows(X, A, correct, "pooled-linear")
    right = [np.mean((policy.logits(X, A) > 0) == correct) for policy in (trees, linear)]
    assert right[0] > right[1] + 0.1, right  # X0 * X1: a sum of weights cannot learn it
    mean = averaged(linear, trees, "pooled-mean")
    assert np.allclose(mean.logits(X, A), (linear.logits(X, A) + trees.logits(X, A)) / 2)
    signals = [Signal(name, "after", float(value), None, False, "") for name, value in zip(FEATURES, X[7])]
    terms = [Signal("answer_features", "after", policy.answer.logit(dict(zip(ANSWER_FEATURES, A[7]))), None, False, "")
             for policy in (linear, trees, mean)]
    live = [policy.p_correct(signals + [term]) for policy, term in zip((linear, trees, mean), terms)]
    as_logits = [1 / (1 + np.exp(-policy.logits(X[7:8], A[7:8])[0])) for policy in (linear, trees, mean)]
    assert live == pytest.approx(as_logits)  # the card's terms add up to what the batch computes
    with pytest.raises(ValueError, match="same rows"):
        averaged(linear, fit_pooled_rows(X * 2, A, correct, "pooled-other"), "bad")
    # an answer without logprobs: its term is absent live (zero), and the batch log-odds count it the same way
    blank = np.full((1, len(ANSWER_FEATURES)), np.nan)
    assert trees.answer.logits(blank)[0] == 0.0 and trees.answer.logit({}) == 0.0
    p_live = trees.p_correct(signals)  # no answer_features signal at all
    assert trees.logits(X[7:8], blank)[0] == pytest.approx(np.log(p_live / (1 - p_live)))


def test_a_hidden_state_term_ships_as_data_and_a_policy_over_it_counts_its_priors_once():
    """The default router's pooled hidden-state term (heldout/log.md, candidate 12): a LinearReducer equals the
    fitted scaler + PCA, the term round-trips through policy_data, its constant counts only with a state, and a
    policy over such a prior (fit_policy's correction) reads the prior's state part inside the one hidden_states
    term, not twice."""
    from hybrid_magic.experiments.learned import reduce
    from hybrid_magic.router.learned_policy import (AnswerTerms, LearnedPolicy, LinearReducer, StateTerms,
                                                    policy_data, policy_from_data)
    from hybrid_magic.router.states import hidden_states

    rows = np.random.default_rng(0).normal(size=(40, 6)) * np.arange(1, 7) + 3.0
    reduced, _, pipeline = reduce(rows, rows[:1], 3)
    reducer = LinearReducer.from_pipeline(pipeline)
    assert np.allclose(reducer.transform(rows), reduced)
    terms = StateTerms(reducer, reduced.std(axis=0), np.array([0.5, -0.25, 0.1]), "llama-576x30-x", bias=-0.4)
    assert terms.logit(rows[0]) == pytest.approx((reduced[0] / reduced.std(axis=0)) @ terms.weights - 0.4)
    answer = AnswerTerms(("span_first_logprob",), np.zeros(1), np.ones(1), np.ones(1))
    router = LearnedPolicy("router", ("low_confidence",), np.zeros(1), np.ones(1), np.array([2.0]), 0.1,
                           states=terms, answer=answer, early_margin=1.0)
    again = policy_from_data(policy_data(router))
    assert again.state_model == "llama-576x30-x" and again.state_logit(rows[3]) == pytest.approx(router.state_logit(rows[3]))
    low = Signal("low_confidence", "after", 0.4, 0.25, False, "")
    assert router.contributions([low])["hidden_states"] == 0.0  # no state read: the term (its constant too) absent
    term = router.state_logit(rows[3])
    assert router.p_correct([low], rows[3]) == pytest.approx(1 / (1 + np.exp(-(0.8 + 0.1 + term))))
    assert router.logits(np.array([[0.4]]), np.array([[0.0]]))[0] == pytest.approx(0.8 + 0.1)  # the term apart
    mine = LearnedPolicy("mine", ("low_confidence",), np.zeros(1), np.ones(1), np.array([1.0]), 0.0, answer=answer,
                         prior=router, prior_weight=0.5)
    assert mine.reads_states and mine.state_model == "llama-576x30-x"
    assert mine.state_logit(rows[3]) == pytest.approx(0.5 * term)  # the prior's part, weighed as the prior is
    signals = [low, hidden_states(mine.state_logit(rows[3]))]
    contributions = mine.contributions(signals)
    assert contributions["hidden_states"] == pytest.approx(0.5 * term, abs=1e-3)  # the card rounds to 3 places
    assert contributions["router"] == pytest.approx(0.5 * 0.8, abs=1e-3), "the prior's state part is not counted again"


def answer_term(value: float) -> Signal:
    from hybrid_magic.router.answer_terms import answer_signal

    return answer_signal(value)


def test_averaging_two_routers_averages_their_hidden_state_terms_and_refuses_other_reductions():
    """The shipped router is averaged() of two fits, each with its own hidden-state term over the same PCA
    (heldout/log.md, candidate 18): the mean's state term is the mean of the two, constants included."""
    from dataclasses import replace

    from hybrid_magic.experiments.learned import averaged, reduce
    from hybrid_magic.router.learned_policy import AnswerTerms, LearnedPolicy, LinearReducer, StateTerms

    rows = np.random.default_rng(2).normal(size=(30, 5)) * np.arange(1, 6)
    reduced, _, pipeline = reduce(rows, rows[:1], 2)
    reducer, spreads = LinearReducer.from_pipeline(pipeline), reduced.std(axis=0)
    answer = AnswerTerms(("span_first_logprob",), np.zeros(1), np.ones(1), np.array([0.4]))

    def router(weight: float, state_weights, constant: float) -> LearnedPolicy:
        return LearnedPolicy("r", ("low_confidence",), np.zeros(1), np.ones(1), np.array([weight]), weight,
                             states=StateTerms(reducer, spreads, np.array(state_weights), "m", constant),
                             answer=answer, early_margin=1.0)

    first, second = router(1.0, [0.5, -0.2], -0.4), router(-0.2, [0.1, 0.3], 0.2)
    mean = averaged(first, second, "mean")
    for row in rows[:5]:
        assert mean.state_logit(row) == pytest.approx((first.state_logit(row) + second.state_logit(row)) / 2)
    assert mean.bias == pytest.approx(0.4) and mean.early_margin == 1.0 and mean.reference is None
    moved = replace(second, states=replace(second.states, reducer=LinearReducer(reducer.centre + 1.0, reducer.scale,
                                                                                 reducer.components)))
    with pytest.raises(ValueError, match="same reduction"):
        averaged(first, moved, "bad")
