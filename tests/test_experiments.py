"""Experiments: datasets, scorers, store, replay, calibration, learned policy, and real runs."""
from __future__ import annotations

import json
import math
from types import SimpleNamespace

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from hybrid_magic.errors import UsageError  # noqa: E402
from hybrid_magic.experiments import Experiment, builtin_mix, load_builtin, load_dataset  # noqa: E402
from hybrid_magic.experiments import replay  # noqa: E402
from hybrid_magic.experiments.scorers import llm_judge, numeric_scorer, regex_scorer, resolve_scorer  # noqa: E402
from hybrid_magic.types import DEFAULT_POLICY  # noqa: E402
from hybrid_magic.experiments.store import GenerationKey, ResultStore  # noqa: E402
from hybrid_magic.router import signals as sig  # noqa: E402
from hybrid_magic.router.policy import POLICIES, PolicyParams, decide, requesting_signal  # noqa: E402

# ---- datasets ---------------------------------------------------------------------------


def test_datasets_from_list_dataframe_and_jsonl(tmp_path):
    rows = [{"prompt": "2+2?", "reference": 4, "topic": "math"}, {"id": "b", "prompt": "Sky?", "reference": "blue"}]
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    for source in (rows, pd.DataFrame(rows), str(path)):
        items = load_dataset(source)
        assert [i["id"] for i in items] == ["0", "b"]
        assert items[0]["topic"] == "math" and items[1]["reference"] == "blue"
        assert "topic" not in items[1]  # a DataFrame's empty cell is not metadata


def test_instructed_adds_each_scorers_format_instruction_once_and_keeps_the_items():
    from hybrid_magic.experiments import instructed

    items = load_dataset([
        {"id": "y", "prompt": "Can a dog swim? ", "reference": "yes", "scorer": "yesno"},
        {"id": "n", "prompt": "3 cats and 2 more: how many?", "reference": 5, "scorer": "numeric"},
        {"id": "c", "prompt": "Tea or coffee?", "reference": "tea", "scorer": "choice", "options": ["tea", "coffee"]},
        {"id": "o", "prompt": "The plural of mouse?", "reference": "mice"},
        {"id": "a", "prompt": "Is it hot? Reply with one word.", "reference": "no", "scorer": "yesno"},
    ])
    before = [dict(item) for item in items]
    asked = instructed(items)
    assert [item["prompt"] for item in asked] == [
        "Can a dog swim? Answer yes or no.", "3 cats and 2 more: how many? Answer with the number only.",
        "Tea or coffee? Answer with your choice only.", "The plural of mouse? Answer in a few words.",
        "Is it hot? Reply with one word."]  # a prompt that already asks for a format is left as it is
    assert [item["id"] for item in asked] == ["y", "n", "c", "o", "a"] and asked[2]["options"] == ["tea", "coffee"]
    assert items == before and instructed(asked) == asked


def test_dataset_errors_are_one_line_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="prompt"):
        load_dataset([{"reference": 1}])
    with pytest.raises(UsageError, match="duplicate"):
        load_dataset([{"id": 1, "prompt": "a"}, {"id": 1, "prompt": "b"}])
    with pytest.raises(UsageError, match="does not exist"):
        load_dataset(tmp_path / "missing.jsonl")
    with pytest.raises(UsageError, match="'history' must be a list"):
        load_dataset([{"prompt": "And its capital?", "history": "We spoke of Peru."}])
    with pytest.raises(UsageError, match="'system' must be a string"):
        load_dataset([{"prompt": "Hi", "system": ["Be brief."]}])


class JudgeClient:
    """A stand-in cloud for the judge's bookkeeping (pure logic): it answers YES and keeps what it was asked."""

    def __init__(self):
        self.asked = []

    def stream(self, messages, params):
        self.asked.append(messages[-1]["content"])
        return iter([SimpleNamespace(text="YES")])


def test_the_judge_reads_an_items_earlier_turns_and_remembers_each_context_apart():
    client = JudgeClient()
    judge = llm_judge(client)
    about = lambda country: {"prompt": "And its capital?", "reference": "Lima",  # noqa: E731
                             "history": [{"role": "user", "content": f"Tell me about {country}."}]}
    assert judge("Lima", about("Peru")) == judge("Lima", about("Peru")) == 1.0
    judge("Lima", about("Chile"))
    judge("Lima", {**about("Peru"), "system": "Answer in Spanish."})
    assert len(client.asked) == 3, "one verdict per context, remembered"
    assert "user: Tell me about Peru.\nuser: And its capital?" in client.asked[0]
    assert "system: Answer in Spanish.\nuser: Tell me about Peru." in client.asked[2]


def test_builtin_sets_have_checkable_graded_items():
    for name in ("arithmetic", "factual", "units", "json"):
        items = load_builtin(name)
        assert len(items) >= 10 and {i["difficulty"] for i in items} == {1, 2, 3}
        assert all(i["reference"] is not None and i["scorer"] for i in items)
    mix = builtin_mix(30)
    assert len(mix) == 30 and len({i["id"] for i in mix}) == 30
    assert {i["category"] for i in mix} == {"arithmetic", "factual", "units", "json"}
    assert builtin_mix(30) == mix  # deterministic


# ---- scorers ----------------------------------------------------------------------------


@pytest.mark.parametrize("scorer, answer, reference, expected", [
    ("exact", "Paris", "Paris", 1.0), ("exact", "paris", "Paris", 0.0),
    ("normalised", "The Paris!", "paris", 1.0), ("normalised", "Paris, France", "paris", 0.0),
    ("contains", "It is Paris.", "paris", 1.0), ("contains", "Parisian", "paris", 0.0),
    ("numeric", "17 * 23 = 391", 391, 1.0), ("numeric", "1,748", 1748, 1.0), ("numeric", "none", 3, 0.0),
    ("regex", "Answer: 42", r"\b42\b", 1.0), ("regex", "Answer: 421", r"\b42\b", 0.0),
    ("json", '```json\n{"a": 1}\n```', {"a": 1}, 1.0), ("json", '{"a": 2}', '{"a": 1}', 0.0),
])
def test_named_scorers(scorer, answer, reference, expected):
    assert resolve_scorer(scorer)(answer, {"reference": reference}) == expected


def test_auto_callable_tolerance_and_pattern_scorers():
    auto = resolve_scorer("auto")
    assert auto("5000 m", {"reference": 5000, "scorer": "numeric"}) == 1.0
    assert auto("It is Tokyo", {"reference": "tokyo"}) == 1.0  # default: contains
    assert resolve_scorer(lambda a, r: a.startswith(r))("yes sir", {"reference": "yes"}) == 1.0
    assert resolve_scorer(numeric_scorer(tolerance=0.5))("3.4", {"reference": 3}) == 1.0
    assert resolve_scorer(regex_scorer("^ok"))("ok then", {"reference": None}) == 1.0
    with pytest.raises(UsageError, match="Unknown scorer"):
        resolve_scorer("fuzzy")


# ---- store ------------------------------------------------------------------------------


def test_store_keys_on_experiment_item_model_and_params(tmp_path):
    store = ResultStore(tmp_path / "s.sqlite")
    key = GenerationKey("e", "item#1", "local", "m", GenerationKey.params_json({"max_tokens": 8}))
    store.put(key, {"text": "hi"})
    assert ResultStore(tmp_path / "s.sqlite").get(key) == {"text": "hi"}  # survives a new connection
    other = GenerationKey("e", "item#1", "local", "m", GenerationKey.params_json({"max_tokens": 9}))
    assert store.get(other) is None and store.count("e") == 1


def test_default_store_lives_under_the_home_dir(isolated_home):
    assert ResultStore().path == isolated_home / "experiments.sqlite"


# ---- replay on hand-made recordings -------------------------------------------------------


def fake_rec(probs, correct, *, text=None, finish="stop", prompt="q", fmt=None) -> replay.Recorded:
    """Recorded tokens t0, t1, ... or, given `text`, that text in the first token."""
    pieces = [f"t{i}" for i in range(len(probs))] if text is None else [text] + [""] * (len(probs) - 1)
    text = "".join(pieces)
    tokens = [{"text": pieces[i], "token_id": i + 10, "logprob": math.log(p), "entropy": 1.0,
               "top": [["a", math.log(p)], ["b", math.log((1 - p) / 2)]], "finish_reason": None,
               "t": 0.1 * (i + 1)} for i, p in enumerate(probs)]
    tokens.append({"text": "", "token_id": None, "logprob": None, "entropy": None, "top": [],
                   "finish_reason": finish, "t": 0.1 * (len(probs) + 1)})
    local = {"text": text, "tokens": tokens, "finish_reason": finish, "prompt_tokens": 10,
             "context_length": 8192, "timings": {"seconds": 0.1 * len(probs), "completion_tokens": len(probs)}}
    item = {"id": prompt, "prompt": prompt, "reference": "x", **({"format": fmt} if fmt else {})}
    return replay.Recorded(item, local, None, float(correct), 1.0, max_tokens=16)


def toy_recs():
    confident = [fake_rec([0.9] * 6, True, prompt=f"c{i}") for i in range(3)]
    unsure = [fake_rec([0.3] * 6, False, prompt=f"u{i}") for i in range(2)]
    mid = [fake_rec([0.6] * 6, True, prompt="m0"), fake_rec([0.6] * 6, False, prompt="m1")]
    return confident + unsure + mid


def test_replay_stops_early_at_low_confidence_and_decides_like_the_cascade():
    rec = fake_rec([0.9, 0.9, 0.2, 0.2, 0.2, 0.2, 0.2], False)
    th = sig.Thresholds(low_confidence=0.5, window=4, min_tokens=4)
    outcome = replay.replay_item(rec, "cascade", th, PolicyParams())  # the stream's cut: half the knob, 0.25
    assert outcome.route == "cloud" and outcome.decision.stage == "during" and outcome.stop_index == 5
    assert replay.replay_item(rec, "always-local", th, PolicyParams()).route == "local"
    refused = fake_rec([0.99] * 6, False, text="I don't know.")
    assert replay.replay_item(refused, "cascade", th, PolicyParams()).decision.stage == "after"


def test_sweep_reports_every_threshold_and_the_baselines():
    table = replay.sweep(toy_recs(), "cascade", [0.0, 0.5, 0.75, 1.0])  # the 0.6 answers estimate 0.71
    assert set(table.policy) == {"cascade", "always-local", "always-cloud", "random", "length"}
    cascade = table[table.policy == "cascade"].set_index("threshold")
    assert list(cascade.handoff_rate) == pytest.approx([0, 2 / 7, 4 / 7, 1])
    assert cascade.loc[0.5, "quality"] == pytest.approx(6 / 7)  # both sure-wrong answers handed off
    assert (table.cloud_mode == "upper bound (oracle cloud)").all()
    assert table.loc[table.policy == "always-local", "quality"].iloc[0] == pytest.approx(4 / 7)


def test_policy_risk_ranks_items_by_the_threshold_that_hands_them_off():
    risk = replay.policy_risk(toy_recs(), "cascade")
    assert risk[3] > risk[5] > risk[0]  # 0.3 mean prob before 0.6 before 0.9


def test_knob_sweep_reads_every_knobs_row_off_the_lowest_handing_off_knob():
    recs, th = toy_recs(), sig.Thresholds()
    for policy in ("cascade", DEFAULT_POLICY):  # what calibrate reads: the same rows as a replay at every knob
        full = replay.sweep(recs, policy, replay.CONFIDENCE_GRID, th, baselines=False)
        fast = replay.knob_sweep(recs, policy, th)
        assert fast.handoff_rate.nunique() > 2, policy  # the knob moves something on these items
        for column in ("threshold", "handoff_rate", "quality", "pgr"):
            assert fast[column].tolist() == pytest.approx(full[column].tolist()), (policy, column)
    assert list(replay.lowest_knobs(recs, "always-cloud", th)) == [0] * len(recs)
    assert list(replay.lowest_knobs(recs, "always-local", th)) == [-1] * len(recs)


def test_calibrate_returns_threshold_and_config_line():
    from hybrid_magic.experiments.analysis import calibrate

    recs, th = toy_recs(), sig.Thresholds()
    by_rate = calibrate(recs, "cascade", th, None, 0.3)
    assert by_rate.handoff_rate <= 0.3 and by_rate.quality == pytest.approx(6 / 7)
    # the cascade is not the default policy: its line sets the policy too; the default router's sets the knob only
    assert by_rate.config_line == f"%config HybridMagics.policy = 'cascade'\n%config HybridMagics.threshold = {by_rate.threshold:g}"
    default = calibrate(recs, DEFAULT_POLICY, th, None, 0.3)
    assert default.handoff_rate <= 0.3 and default.config_line == f"%config HybridMagics.threshold = {default.threshold:g}"
    by_quality = calibrate(recs, "cascade", th, 1.0, None)
    assert by_quality.quality == 1.0 and by_quality.handoff_rate == pytest.approx(4 / 7)
    with pytest.raises(UsageError, match="exactly one"):
        calibrate(recs, "cascade", th, 0.5, 0.5)


def test_prompt_length_replays_the_stored_prompt_alone_and_older_recordings_as_sent():
    length = lambda rec: next(s for s in rec.prepared(sig.Thresholds()).before if s.name == "prompt_length")  # noqa: E731
    older = fake_rec([0.9], True)  # recorded before question_tokens was stored: the prompt as sent (10)
    assert length(older).value == 10.0
    newer = fake_rec([0.9], True)
    newer.local["question_tokens"] = 4
    assert length(newer).value == 4.0 and "10 tokens sent in all" in length(newer).message


def test_fit_policy_registers_a_policy_that_beats_random_on_held_out_items():
    from hybrid_magic.experiments.learned import fit_policy

    recs = [fake_rec([p] * 6, p > 0.5, prompt=f"i{n}") for n, p in enumerate(np.linspace(0.2, 0.95, 16))]
    report = fit_policy(recs, "toy-learned", sig.Thresholds(), test_size=0.5, seed=1)
    assert "toy-learned" in POLICIES and report.usage == "%%hybrid --policy toy-learned"
    prior = POLICIES[DEFAULT_POLICY]
    assert report.policy.prior is prior and report.policy.prior_weight == 1.0, "a correction to the router"
    assert report.policy.early_margin == prior.early_margin, "it stops mid-answer as the router does"
    assert "prior:router" in report.coefficients and "a correction to the default router" in str(report)
    with pytest.raises(UsageError, match="default router's name"):
        fit_policy(recs, DEFAULT_POLICY, sig.Thresholds(), test_size=0.5, seed=1)
    assert POLICIES[DEFAULT_POLICY].prior is None, "the default router is untouched"
    assert report.apgr_learned > 0.5 and report.auroc_learned == 1.0
    unsure = replay.replay_item(fake_rec([0.2] * 6, False), "toy-learned", sig.Thresholds(), PolicyParams())
    sure = replay.replay_item(fake_rec([0.95] * 6, True), "toy-learned", sig.Thresholds(), PolicyParams())
    assert unsure.route == "cloud" and sure.route == "local"
    before_only = decide("toy-learned", fake_rec([0.2], False).prepared(sig.Thresholds()).before)
    assert before_only.route == "local"  # nothing known about the answer yet


def stated(rec: replay.Recorded, model: str, vector) -> replay.Recorded:
    """The record with a prompt state on its first token (as transformers records it)."""
    rec.local["tokens"][0]["prompt_state"] = {"model": model, "vector": [float(v) for v in vector]}
    rec.events = [replay.event_from_dict(d) for d in rec.local["tokens"]]
    return rec


def toy_policy(name: str, bias: float = 0.0, margin: float = 0.0):
    from hybrid_magic.router.learned_policy import AnswerTerms, LearnedPolicy

    answer = AnswerTerms(("span_first_logprob",), np.zeros(1), np.ones(1), np.zeros(1))
    return LearnedPolicy(name, ("low_confidence",), np.zeros(1), np.ones(1), np.ones(1), bias, answer=answer,
                         early_margin=margin)


def test_fit_policy_live_reads_exactly_the_correction_it_fitted(monkeypatch):
    """The registered policy, replayed as live, gives each training answer the log-odds fitted: the router's (its
    state term read from the recording) plus the correction's intercept and weights on the clipped values and the
    user's own state components."""
    from hybrid_magic.experiments import learned
    from hybrid_magic.experiments.recording import state_rows

    fits = []
    original = learned.offset_logistic

    def spy(Z, offset, correct, strength):
        fits.append((Z, offset, original(Z, offset, correct, strength)))
        return fits[-1][2]

    monkeypatch.setattr(learned, "offset_logistic", spy)
    router, rng = POLICIES[DEFAULT_POLICY], np.random.default_rng(3)
    probs = [*np.linspace(0.15, 0.95, 39), 0.001]  # the last far outside the others (fitted on at seed 3): clipped
    recs = [stated(fake_rec([p] * 6, p > 0.5 and n % 4 != 0, prompt=f"l{n}"), router.state_model,
                   rng.normal(size=1152)) for n, p in enumerate(probs)]
    report = learned.fit_policy(recs, "toy-live", sig.Thresholds(), test_size=0.5, seed=3, states=state_rows(recs))
    assert report.strength in learned.CORRECTION_C_GRID and report.policy.states is not None
    Z, offset, (intercept, weights) = fits[-1]  # the last fit is the policy's; the others were cross-validation
    correct = np.array([r.local_score >= 0.5 for r in recs])
    train, _ = learned._split(correct, 0.5, 3)
    values = Z[:, :len(learned.FEATURES) + len(learned.ANSWER_FEATURES)]  # then the state components, unclipped
    assert 39 in train and np.abs(values).max() == 3.0, "a value was clipped"
    never = PolicyParams(threshold=0.0)  # no cut: the estimate over the whole answer
    for row, i in enumerate(train):
        p = 1.0 - replay.replay_item(recs[i], "toy-live", sig.Thresholds(), never).decision.score
        assert math.log(p / (1 - p)) == pytest.approx(offset[row] + intercept + Z[row] @ weights, abs=1e-6)


def test_fit_policy_keeps_the_routers_ranking_when_too_few_answers_to_cross_validate(monkeypatch):
    """Candidate 16 (heldout/log.md): with fewer than FEW_ANSWERS right answers among the items fitted on, the
    correction to the router takes its smallest strength without cross-validating; with FEW_ANSWERS it does."""
    from hybrid_magic.experiments import learned
    from hybrid_magic.experiments.learned_report import FEW_ANSWERS

    calls = []
    original = learned._cross_validated_strength
    monkeypatch.setattr(learned, "_cross_validated_strength", lambda *args: calls.append(1) or original(*args))
    for right_in_training, cross_validated in ((FEW_ANSWERS - 1, False), (FEW_ANSWERS, True)):
        calls.clear()
        right = 2 * right_in_training  # the stratified split fits on half of each class
        recs = [fake_rec([p] * 6, n < right, prompt=f"f{n}") for n, p in enumerate(np.linspace(0.9, 0.2, 50))]
        report = learned.fit_policy(recs, f"toy-few-{right}", sig.Thresholds(), test_size=0.5, seed=0)
        assert report.fewest_in_training == right_in_training and bool(calls) == cross_validated
        assert ("keeps the smallest (the router's ranking)" in str(report)) != cross_validated
        if not cross_validated:
            assert report.strength == learned.CORRECTION_C_GRID[0] and report.policy.prior is not None


def test_fit_policy_without_a_learned_default_fits_alone_and_says_when_it_had_few_answers(monkeypatch):
    from hybrid_magic.experiments.learned import C_GRID, fit_policy

    monkeypatch.setitem(POLICIES, DEFAULT_POLICY, POLICIES["cascade"])
    recs = [fake_rec([p] * 6, p > 0.5, prompt=f"a{n}") for n, p in enumerate(np.linspace(0.2, 0.95, 16))]
    report = fit_policy(recs, "toy-alone", sig.Thresholds(), test_size=0.5, seed=1)
    assert report.policy.prior is None and report.strength in C_GRID and "correction" not in str(report)
    assert report.fewest_in_training == 3 and "Only 3 right or wrong answers" in str(report)


def test_a_state_term_fitted_on_pooled_states_hands_off_as_many_as_were_wrong():
    """fit_state_term (the default router's hidden-state term, candidate 12) on hand-made states: the weights are
    kept, the term ranks by the state, its constant puts exactly the wrong calibration answers below the cut."""
    from hybrid_magic.experiments.learned import _after_logits, _state_terms, fit_state_term
    from dataclasses import replace as with_

    rng = np.random.default_rng(0)
    recs = []
    for n in range(40):
        right = n % 3 == 0
        vector = rng.normal(size=4) + np.array([2.0 if right else -2.0, 0, 0, 0])
        recs.append(stated(fake_rec([0.6] * 6, right, prompt=f"s{n}"), "toy-model", vector))
    policy = toy_policy("toy-offset")
    terms = fit_state_term(recs, policy, sig.Thresholds(), recs)
    assert terms.model == "toy-model" and terms.weights.shape == (4,)
    term = _state_terms(recs, with_(policy, states=terms))
    correct = np.array([r.local_score >= 0.5 for r in recs])
    assert term[correct].min() > term[~correct].max(), "the state says which answers are right"
    estimate = _after_logits(recs, policy, sig.Thresholds()) + term
    assert int(np.sum(estimate < 0)) == int(np.sum(~correct)), "as many below the knob's 0.5 as were wrong"
    with pytest.raises(UsageError, match="right and wrong calibration answers"):
        fit_state_term(recs, policy, sig.Thresholds(), [r for r in recs if r.local_score >= 0.5])
    other = stated(fake_rec([0.6] * 6, True, prompt="o"), "another-model", np.zeros(4))
    with pytest.raises(UsageError, match="hidden states of one model"):
        fit_state_term(recs + [other], policy, sig.Thresholds(), recs)


def test_correction_trees_learn_what_the_policy_misses_and_live_reads_exactly_what_was_fitted():
    """fit_correction_trees (heldout/log.md, candidate 25): trees boosted around a policy's whole log-odds learn a
    band of confidence its single weight cannot rank, never split on a left-out length feature (here it would
    tell the answers apart), keep the policy's own weights, and live (replayed) computes the log-odds the batch
    does; it registers nothing. Rows read per part (correction_rows) and joined fit the same trees, so that a
    leave-one-set-out check reads each record once."""
    from dataclasses import replace as with_

    from hybrid_magic.experiments.learned import (POOLED_LEFT_OUT, _after_logits, correction_rows,
                                                  fit_correction_rows, fit_correction_trees)
    from hybrid_magic.experiments.metrics import auroc
    from hybrid_magic.router.learned_policy import AnswerTerms, LearnedPolicy
    from hybrid_magic.router.trees import LEAF

    recs = []
    for n in range(160):
        p = 0.2 + 0.75 * (n % 40) / 40
        right = 0.45 < p < 0.75  # right in the middle band only: no single weight on confidence ranks that
        recs.append(fake_rec([p] * 5, right, prompt=f"band{n}"))
    for n in range(80):  # as confident as the band, half of them wrong: only their length tells which
        recs.append(fake_rec([0.3] * (6 if n % 2 else 3), bool(n % 2), prompt=f"long{n}"))
    answer = AnswerTerms(("span_first_logprob", "tokens"), np.array([0.0, 4.5]), np.ones(2), np.zeros(2))
    policy = LearnedPolicy("toy-mean", ("low_confidence", "truncated"), np.zeros(2), np.ones(2),
                           np.array([1.0, 0.0]), 0.0, answer=answer)
    th = sig.Thresholds()
    corrected = fit_correction_trees(recs, policy, th, "toy-corrected")
    assert "toy-corrected" not in POLICIES and corrected.name == "toy-corrected"
    wrong = np.array([r.local_score < 0.5 for r in recs])
    before, after = (auroc(-_after_logits(recs, p_, th), wrong) for p_ in (policy, corrected))
    assert after > before + 0.3, (before, after)
    assert np.array_equal(corrected.weights, policy.weights) and np.array_equal(corrected.answer.weights,
                                                                                answer.weights)
    split_on = {policy.features[c] for c in corrected.trees.feature.ravel() if c != LEAF}
    split_on |= {answer.features[c] for c in corrected.answer.trees.feature.ravel() if c != LEAF}
    assert "span_first_logprob" in split_on and not split_on & set(POOLED_LEFT_OUT)
    POLICIES["toy-corrected"] = corrected
    try:
        live = [replay.replay_item(r, "toy-corrected", th, PolicyParams(threshold=0.0)).decision.score for r in recs]
    finally:
        del POLICIES["toy-corrected"]
    assert np.allclose(live, 1 / (1 + np.exp(_after_logits(recs, corrected, th))))
    parts = [correction_rows(part, policy, th) for part in (recs[:100], recs[100:])]
    from_parts = fit_correction_rows(*(np.concatenate(column) for column in zip(*parts)), policy, "toy-corrected")
    assert np.allclose(_after_logits(recs, from_parts, th), _after_logits(recs, corrected, th))
    with pytest.raises(ValueError, match="no prior"):
        fit_correction_trees(recs, with_(policy, prior=policy, prior_weight=1.0), th, "bad")
    with pytest.raises(UsageError, match="right and wrong"):
        fit_correction_trees([r for r in recs if r.local_score >= 0.5], policy, th, "bad")


def test_fit_policy_leaves_out_a_priors_state_term_fitted_on_other_weights():
    """The default router's state term reads SmolLM2-135M's states; a personal fit on another model's states
    corrects the router without that term (live would not read it either), and never feeds it those states."""
    from hybrid_magic.experiments.learned import fit_policy
    from hybrid_magic.experiments.recording import state_rows

    assert POLICIES[DEFAULT_POLICY].reads_states
    rng = np.random.default_rng(1)
    recs = [stated(fake_rec([p] * 6, p > 0.5, prompt=f"x{n}"), "another-model", rng.normal(size=8))
            for n, p in enumerate(np.linspace(0.2, 0.95, 16))]
    report = fit_policy(recs, "toy-other-states", sig.Thresholds(), test_size=0.5, seed=0, states=state_rows(recs))
    policy = report.policy
    assert policy.states.model == "another-model" and policy.prior.states is None and not policy.prior.reads_states
    verdict = replay.replay_item(recs[0], "toy-other-states", sig.Thresholds(), PolicyParams())
    states = next(s for s in verdict.decision.signals if s.name == "hidden_states")
    assert states.available and states.value == pytest.approx(policy.states.logit(recs[0].state))


def test_replay_hands_off_mid_answer_at_the_knob_under_thresholds_early_margin_zero():
    """Experiment(thresholds=Thresholds(early_margin=0)) replays what %config HybridMagics.early_margin = 0 runs:
    a mid-answer estimate between the margin's bar and the knob stops the stream there, not after it."""
    from hybrid_magic.router.policy import register_policy

    # p(right) = sigmoid(low_confidence's value + bias) = 0.4 on this stream: below the knob's 0.5, above 0.27
    register_policy("toy-margin", toy_policy("toy-margin", bias=math.log(0.4 / 0.6) - 0.2, margin=1.0))
    rec = fake_rec([0.2] * 12, False)
    th = sig.Thresholds(window=4, min_tokens=4)
    own = replay.replay_item(rec, "toy-margin", th, PolicyParams())
    assert own.route == "cloud" and own.stop_index is None and own.decision.stage == "after"
    zero = replay.replay_item(rec, "toy-margin", sig.Thresholds(window=4, min_tokens=4, early_margin=0.0),
                              PolicyParams())
    assert zero.route == "cloud" and zero.stop_index is not None and zero.decision.stage == "during"


# ---- real model ---------------------------------------------------------------------------

ITEMS = [
    {"id": "add", "prompt": "What is 2 + 3? Answer with the number only.", "reference": 5, "scorer": "numeric"},
    {"id": "capital", "prompt": "What is the capital of France?", "reference": "Paris"},
    {"id": "json", "prompt": 'Write a JSON object with key "a" set to 1.', "reference": {"a": 1},
     "scorer": "json", "format": "json"},
]


@pytest.fixture(scope="module")
def backend(model_dir):
    from hybrid_magic.backends import get_backend
    from hybrid_magic.models import resolve

    return get_backend("transformers", resolve("smollm2-135m", str(model_dir.parent)))[0]


class InterruptAfter:
    """The real backend, with a Ctrl-C arriving after k answers have come back (self-checks not counted)."""

    def __init__(self, backend, k: int):
        self.inner, self.left = backend, k
        self.name, self.model, self.context_length = backend.name, backend.model, backend.context_length

    def count_prompt_tokens(self, messages, tools=None):
        return self.inner.count_prompt_tokens(messages, tools)

    def supports_tools(self):
        return self.inner.supports_tools()

    def generate_batch(self, conversations, params, batch_size=1):
        for row in self.inner.generate_batch(conversations, params, batch_size=batch_size):
            if params.max_tokens > 1:  # an answer, not a one-token self-check
                if self.left == 0:
                    raise KeyboardInterrupt
                self.left -= 1
            yield row


def test_interrupted_experiment_resumes_and_a_re_run_is_free(backend, tmp_path):
    th = sig.Thresholds(low_confidence=0.9, stream_confidence=0.9, min_tokens=2, window=3)  # strict: the monitor fires
    store = ResultStore(tmp_path / "exp.sqlite")
    first = Experiment(ITEMS, local=InterruptAfter(backend, 1), max_tokens=12, store=store, thresholds=th,
                       batch_size=1)  # one item per batch: the first is stored before the Ctrl-C
    with pytest.raises(KeyboardInterrupt):
        first.run(progress=False)
    assert first.computed["local"] == 1 and store.count("default") == 1

    again = Experiment(ITEMS, local=backend, max_tokens=12, store=store, thresholds=th)
    table = again.run(progress=False)
    assert again.computed["local"] == 2 and len(table) == 3  # only the rest was computed
    assert again.run(progress=False).equals(table) and again.computed["local"] == 0  # a re-run is free
    assert table.early_stop_token.notna().any(), "a strict threshold stops some item early in replay"
    for rec in again.recorded():  # recorded without the handoff offer, as %%hybrid runs by default
        assert rec.local["offer"] is None and rec.local["tokens"][-1]["finish_reason"] in ("stop", "length")


def test_real_experiment_with_the_stand_in_cloud(backend, cloud_server, tmp_path):
    from hybrid_magic.cloud import CloudClient

    # patient: the pool's requests overlap each other and local generation on a busy machine
    cloud = CloudClient(cloud_server, "test-key", "default_model", timeout_s=600, max_retries=0,
                        prices={"default_model": [1000.0, 3000.0]})
    exp = Experiment(ITEMS, local=backend, cloud=cloud, max_tokens=12, name="real")
    table = exp.run(progress=False)
    assert exp.computed == {"local": 3, "cloud": 3} and len(table) == 3
    assert table.cloud_answer.str.len().gt(0).all() and table.cloud_mode.eq("measured cloud").all()
    assert table.local_tokens.between(1, 12).all() and table["feature.min_prob"].between(0, 1).all()
    assert table.cost_usd.gt(0).all()
    sweep = exp.sweep("cascade")
    assert {"always-local", "always-cloud", "random", "length"} <= set(sweep.policy)
    assert sweep.latency_s.notna().all()
    always_cloud = sweep[sweep.policy == "always-cloud"].iloc[0]
    assert always_cloud.cost_usd == pytest.approx(table.cost_usd.sum())
    exp.to_csv(tmp_path / "r.csv")
    exp.to_parquet(tmp_path / "r.parquet")
    assert pd.read_parquet(tmp_path / "r.parquet").id.tolist() == ["add", "capital", "json"]
    summary = exp.summary()
    assert {"apgr", "cpt50", "cpt80", "cpt95", "auroc"} <= set(summary.columns)
    chosen = exp.calibrate(target_handoff_rate=0.5)
    assert chosen.handoff_rate <= 0.5 and chosen.config_line.startswith("%config HybridMagics.threshold")
    assert exp.plot_cost_quality(chosen=chosen).get_title() == "Cost–quality"
    assert "oracle" not in exp.plot_roc().get_title()
    judge = resolve_scorer(llm_judge(cloud))
    assert judge("Paris", ITEMS[1]) in (0.0, 1.0)


def test_oracle_mode_is_labelled_in_tables_and_plots(backend, tmp_path):
    exp = Experiment(ITEMS[:2], local=backend, max_tokens=12, name="oracle")
    table = exp.run(progress=False)
    assert (table.cloud_score == 1.0).all() and table.cloud_mode.eq("upper bound (oracle cloud)").all()
    assert exp.summary().cloud_mode.eq("upper bound (oracle cloud)").all()
    assert "upper bound (oracle cloud)" in exp.plot_cost_quality().get_title()
    assert "upper bound (oracle cloud)" in exp.plot_handoff_reasons().get_title()


def test_a_recording_keeps_the_prompts_own_length_and_form_for_the_router(backend, tmp_path):
    """Recorded with a system prompt, replay reads prompt_length and the question's form as live does: the user's
    prompt alone."""
    exp = Experiment(ITEMS[:1], local=backend, max_tokens=4, system="Say how many or how much, briefly. " * 8,
                     store=str(tmp_path / "system.sqlite"))
    exp.run(progress=False)
    [rec] = exp.recorded()
    assert rec.local["prompt_tokens"] > rec.local["question_tokens"] + 20  # the system prompt is sent, not counted
    assert rec.local["question_tokens"] == backend.count_prompt_tokens(
        [{"role": "user", "content": ITEMS[0]["prompt"]}], None)
    length = next(s for s in rec.prepared(exp.thresholds).before if s.name == "prompt_length")
    assert length.value == rec.local["question_tokens"]
    alone = {s.name: s.value for s in sig.question_form(ITEMS[0]["prompt"])}
    assert alone == {"asks_how_many": 0.0, "offers_choice": 0.0, "wh_question": 1.0}
    for prepared in (rec.prepared(exp.thresholds), exp.prepared(ITEMS[0], backend)):  # replay, and what is sent
        assert {s.name: s.value for s in prepared.before if s.name in sig.QUESTION_FORMS} == alone


def test_experiments_notebook_runs_headless(cloud_server, monkeypatch, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("OPENAI_BASE_URL", cloud_server)
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("HYBRID_MAGIC_CLOUD_MODEL", "default_model")
    monkeypatch.setenv("HYBRID_MAGIC_NOTEBOOK_ITEMS", "6")  # the full 30 run the same code, longer
    notebook = nbformat.read("notebooks/experiments.ipynb", as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": "."}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    text = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "cloud: 127.0.0.1" in text and "%config HybridMagics.threshold" in text
    assert "measured cloud" in text and "oracle" not in text
    assert any("image/png" in o.get("data", {}) for o in outputs)
    assert not any(o.get("output_type") == "error" for o in outputs)


def test_token_features_on_a_hand_made_answer():
    from hybrid_magic.experiments.features import token_features

    rec = fake_rec([0.5, 0.9, 0.2, 0.8], False)
    rec.local["tokens"][0]["text"] = " "  # an opener without letters or digits
    f = token_features(rec.local["tokens"], "length")
    assert f["min_prob"] == pytest.approx(0.2) and f["first_prob"] == pytest.approx(0.5)
    assert f["first_answer_prob"] == pytest.approx(0.9)  # the first token with a letter or digit
    assert f["content_min_prob"] == pytest.approx(0.2)  # content tokens after the first: 0.2, 0.8
    assert f["lowest3_logprob"] == pytest.approx(np.mean(np.log([0.2, 0.5, 0.8])))
    assert f["min_margin"] == pytest.approx(0.4 - 0.2)  # top-1 0.4, top-2 0.2 at the third token
    assert f["length"] == 4 and f["hit_max_tokens"] == 1.0


# ---- dev set and the after-stage signals in replay ---------------------------------------------


def test_dev_set_is_seeded_graded_and_disjoint_from_the_builtin_sets():
    from hybrid_magic.experiments.devset import dev_set

    dev = dev_set()
    assert len(dev) == 60 and dev_set() == dev and dev_set(seed=1) != dev
    assert {i["category"] for i in dev} == {"arithmetic", "factual", "units", "json"}
    assert {i["difficulty"] for i in dev} == {1, 2, 3}
    builtin = {i["prompt"] for name in ("arithmetic", "factual", "units", "json") for i in load_builtin(name)}
    assert not builtin & {i["prompt"] for i in dev}
    scorer = resolve_scorer("auto")
    for item in dev:  # every reference is what its own scorer accepts
        right = json.dumps(item["reference"]) if item["scorer"] == "json" else str(item["reference"])
        assert scorer(right, item) == 1.0, item
    with pytest.raises(UsageError, match="at least 4"):
        dev_set(2)


def test_answer_estimate_and_arithmetic_rank_and_hand_off_in_replay():
    dip = fake_rec([0.9] * 6 + [0.05] * 2, False, prompt="dip")  # two unlikely tokens: the during mean stays high
    for token in dip.local["tokens"][6:8]:  # greedy: the unlikely token was still the top one, just barely
        token["top"] = [["a", token["logprob"]], ["b", token["logprob"] - 0.01]]
    dip.__post_init__()
    wrong_sum = fake_rec([0.95] * 6, False, text="20 + 98 = 198", prompt="sum")
    sure = fake_rec([0.95] * 6, True, prompt="sure")
    th = sig.Thresholds()
    outcome = replay.replay_item(dip, "cascade", th, PolicyParams())
    assert outcome.route == "cloud" and outcome.decision.stage == "after"
    assert requesting_signal(outcome.decision.signals).name == "answer_estimate"
    assert requesting_signal(replay.replay_item(wrong_sum, "cascade", th, PolicyParams()).decision.signals).name == "arithmetic"
    assert replay.replay_item(sure, "cascade", th, PolicyParams()).route == "local"
    risk = replay.policy_risk([wrong_sum, dip, sure], "cascade", th)
    assert risk[0] > risk[1] > risk[2]  # a wrong calculation first, then the unsure answer
    json_chatter = fake_rec([0.95] * 6, True, text='{"a": 1} Here is why', finish="length", fmt="json")
    assert replay.replay_item(json_chatter, "cascade", th, PolicyParams()).route == "local"
