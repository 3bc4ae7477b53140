"""The default policy, `router`: the shipped learned router (router/default_router.json), its knob, its contracts,
and its data. Pure logic on hand-made signals; the live cell and its replay agree in test_cascade (every policy)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from hybrid_magic.experiments.learned import POOLED_LEFT_OUT, with_cut
from hybrid_magic.router.default_router import DATA, load
from hybrid_magic.router.learned_policy import log_odds, policy_data, policy_from_data
from hybrid_magic.router.policy import POLICIES, PolicyParams, decide, takes_confidence_knob, with_knob
from hybrid_magic.router.thresholds import Thresholds
from hybrid_magic.router.trees import LEAF
from hybrid_magic.types import DEFAULT_POLICY, Signal

ROUTER = POLICIES[DEFAULT_POLICY]


def answer_term(value: float) -> Signal:
    return Signal("answer_features", "after", value, None, False, "")


def test_the_default_policy_is_the_shipped_router_and_it_reads_the_answer_and_takes_the_knob():
    from hybrid_magic.config import HybridSettings
    from hybrid_magic.types import Request

    assert HybridSettings().policy == Request("hybrid", "p", "m").policy == DEFAULT_POLICY == "router"
    assert ROUTER.reads_answer and takes_confidence_knob(DEFAULT_POLICY)
    assert ROUTER.reads_states and ROUTER.state_model.startswith("llama-576x30-")  # candidate 12: transformers only
    assert not takes_confidence_knob("cascade") and not takes_confidence_knob("random")
    knob = Thresholds(low_confidence=0.7)
    assert with_knob(DEFAULT_POLICY, PolicyParams(), knob).threshold == 0.7
    assert with_knob(DEFAULT_POLICY, PolicyParams(threshold=0.2), knob).threshold == 0.2  # --threshold wins
    assert with_knob("cascade", PolicyParams(), knob).threshold is None  # the cascade reads it in its thresholds


def test_the_shipped_data_round_trips_and_says_what_it_was_fitted_on():
    stored = json.loads(DATA.read_text(encoding="utf-8"))
    assert policy_data(load()) == json.loads(json.dumps(stored["policy"]))
    trained = set(stored["provenance"]["items"])
    assert {"corpus@24", "everyday_a@24", "everyday_zzx@128", "builtin@24", "dev@24"} <= trained
    test = ("everyday_zzy", "everyday_zzz")  # and zzza-zzzv: recorded after its recipe was written down
    assert not any(key.startswith(test) for key in trained), "the test sets"
    # the correction (candidate 25): the easy rounds as written and instructed, the later hard rounds as written
    corrected = {key.removesuffix("@24") for key in stored["provenance"]["correction"]["items"]}
    assert {"everyday_zzzo", "everyday_zzzzl", "everyday_zzzzm", "everyday_zzzzm-i", "everyday_zzzzzr-i"} <= corrected
    assert len(corrected) == 24 + 2 * 32 and all(key.endswith("@24") for key in stored["provenance"]["correction"]["items"])
    test_sets = {f"everyday_{name}" for name in ("zzy", "zzz", *(f"zzz{letter}" for letter in "abcdefghijklmn"),
                                                 *(f"zzzzz{letter}" for letter in "stuvwxyz"),
                                                 *(str(number) for number in range(157, 181)))}
    assert not {key.removesuffix("-i") for key in corrected} & test_sets, "its test sets"
    # the mean of a regression and trees (candidate 18): both halves are there
    weights = dict(zip(ROUTER.features + ROUTER.answer.features,
                       np.concatenate([ROUTER.weights, ROUTER.answer.weights])))
    split_on = {ROUTER.features[c] for c in ROUTER.trees.feature.ravel() if c != LEAF}
    split_on |= {ROUTER.answer.features[c] for c in ROUTER.answer.trees.feature.ravel() if c != LEAF}
    assert all(weights[name] == 0.0 for name in POOLED_LEFT_OUT), "the length features were left out"
    assert not split_on & set(POOLED_LEFT_OUT), "the length features were left out of the trees too"
    assert sum(abs(w) > 0.05 for w in weights.values()) >= 8 and len(split_on) >= 15, "it weighs many signals"


def test_an_answer_that_misses_the_form_its_question_asks_for_pushes_towards_the_cloud():
    from hybrid_magic.router.answer_fit import NAMES
    from hybrid_magic.router.signals import answer_fit

    assert all(ROUTER.weights[ROUTER.features.index(name)] < 0 for name in NAMES)  # weights are for a right answer
    for question, kept, missed in (("Is a whale a mammal?", "Yes, it is a mammal.", "A whale is a big animal."),
                                   ("How many legs does a spider have?", "Eight legs.", "Spiders have legs."),
                                   ("Tea or coffee for a cold?", "Tea with honey.", "A warm drink helps.")):
        p_kept, p_missed = (ROUTER.p_correct(answer_fit(question, answer) + [answer_term(0.0)])
                            for answer in (kept, missed))
        assert p_missed < p_kept, question
        explained = decide(DEFAULT_POLICY, answer_fit(question, missed) + [answer_term(0.0)],
                           PolicyParams(threshold=0.5)).contributions
        assert min(explained, key=lambda term: term[1])[0] in NAMES  # the card names what pushed it


def test_the_router_hands_off_below_its_knob_and_explains_by_its_terms():
    low, high = [answer_term(-3.0)], [answer_term(3.0)]
    assert ROUTER.p_correct(low) < 0.5 < ROUTER.p_correct(high)
    off = decide(DEFAULT_POLICY, low, PolicyParams(threshold=0.5))
    assert off.route == "cloud" and off.reason == DEFAULT_POLICY and off.stage == "after"
    assert off.contributions[0] == ("answer_features", -3.0) and off.score == pytest.approx(1 - ROUTER.p_correct(low))
    kept = decide(DEFAULT_POLICY, high, PolicyParams(threshold=0.5))
    assert kept.route == "local" and kept.reason is None
    assert decide(DEFAULT_POLICY, high, PolicyParams(threshold=1.0)).route == "cloud"  # the knob at 1: always
    assert decide(DEFAULT_POLICY, low, PolicyParams(threshold=0.0)).route == "local"  # at 0: never



def test_mid_answer_the_router_stops_only_a_clearly_failing_answer():
    """Before the answer is complete its token features are not counted yet: the estimate must fall early_margin
    log-odds below the cut to end the local answer early (heldout/log.md, candidate 11); after it, the cut. The
    decision shows the knob's cut (the card's timeline draws it)."""
    assert ROUTER.early_margin == 1.0
    bar = ROUTER.early_cut(0.5)
    assert bar == pytest.approx(1 / (1 + np.e)) and ROUTER.early_cut(0.0) == 0.0 and ROUTER.early_cut(1.0) == 1.0
    assert ROUTER.early_cut(0.3) < 0.3 < 0.5 and ROUTER.early_cut(0.3) < bar  # it moves with the knob

    # every other value at its training mean: the trees' pushes there, and the bias
    at_means = log_odds(ROUTER.p_correct([answer_term(0.0)]))

    def signals(value: float, stage: str) -> list[Signal]:  # one answer-stage term putting p_correct at `value`
        return [Signal("answer_features", stage, log_odds(value) - at_means, None, False, "")]

    between, below = signals(0.4, "during"), signals(0.2, "during")
    assert ROUTER.p_correct(between) == pytest.approx(0.4)
    kept = decide(DEFAULT_POLICY, between, PolicyParams(threshold=0.5))
    assert kept.route == "local" and kept.cut == 0.5
    early = decide(DEFAULT_POLICY, below, PolicyParams(threshold=0.5))
    assert early.route == "cloud" and early.stage == "during" and early.cut == 0.5
    after = decide(DEFAULT_POLICY, signals(0.4, "after"), PolicyParams(threshold=0.5))
    assert after.route == "cloud" and after.stage == "after" and after.cut == 0.5
    assert decide(DEFAULT_POLICY, between, PolicyParams(threshold=1.0)).route == "cloud"  # the knob at 1: always
    assert decide(DEFAULT_POLICY, below, PolicyParams(threshold=0.0)).route == "local"  # at 0: never
    # HybridMagics.early_margin = 0: mid-answer at the knob, as before the margin
    assert decide(DEFAULT_POLICY, between, PolicyParams(threshold=0.5, early_margin=0.0)).route == "cloud"
    assert decide(DEFAULT_POLICY, below, PolicyParams(threshold=0.5, early_margin=3.0)).route == "local"


def test_the_engine_gives_the_policy_the_users_early_margin(tmp_path):
    from hybrid_magic.config import HybridSettings
    from hybrid_magic.engine import Engine
    from hybrid_magic.ledger import Ledger
    from hybrid_magic.types import Request

    settings = HybridSettings()
    engine = Engine(settings, Ledger(str(tmp_path / "ledger.sqlite")))
    assert engine.rules(Request("hybrid", "p", "m")).params.early_margin is None  # the router's own, 1.0
    settings.early_margin = 0.0
    rules = engine.rules(Request("hybrid", "p", "m"))
    assert rules.params.early_margin == 0.0 and rules.thresholds.early_margin == 0.0


def test_replay_takes_the_early_margin_from_its_thresholds_as_live_does():
    """Live and replay both fill the policy's parameters in with_knob from the thresholds they run under, so
    Experiment(thresholds=Thresholds(early_margin=0)) replays what %config HybridMagics.early_margin = 0 runs."""
    from hybrid_magic.errors import UsageError

    assert with_knob(DEFAULT_POLICY, PolicyParams(), Thresholds()).early_margin is None  # the policy's own
    assert with_knob(DEFAULT_POLICY, PolicyParams(), Thresholds(early_margin=0.0)).early_margin == 0.0
    assert with_knob(DEFAULT_POLICY, PolicyParams(early_margin=2.0), Thresholds(early_margin=0.0)).early_margin == 2.0
    assert with_knob("cascade", PolicyParams(), Thresholds(early_margin=0.5)).early_margin == 0.5  # unread there
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(UsageError, match="early margin must be None or a finite number >= 0"):
            Thresholds(early_margin=bad)

def test_a_broken_requested_format_and_a_before_stage_request_hand_off_whatever_the_weights():
    broken = Signal("format", "after", 0.0, None, True, "The local answer is not valid JSON.")
    d = decide(DEFAULT_POLICY, [answer_term(5.0), broken], PolicyParams(threshold=0.0))
    assert d.route == "cloud" and d.reason == "format" and d.stage == "after" and not d.contributions
    forced = Signal("forced_cloud", "before", 1.0, None, True, "--cloud")
    d = decide(DEFAULT_POLICY, [forced], PolicyParams(threshold=0.0))
    assert d.route == "cloud" and d.stage == "before" and d.reason == "forced_cloud"


def test_moving_the_cut_into_the_bias_keeps_the_ranking_and_hands_off_where_the_cut_did():
    moved = with_cut(ROUTER, 0.3)
    terms = np.linspace(-4, 4, 33)
    before = [ROUTER.p_correct([answer_term(t)]) for t in terms]
    after = [moved.p_correct([answer_term(t)]) for t in terms]
    assert np.all(np.diff(after) > 0) and np.all(np.diff(before) > 0)
    assert [p < 0.3 for p in before] == [p < 0.5 for p in after]
    assert policy_from_data(policy_data(moved)).bias == pytest.approx(moved.bias)


def test_a_value_far_outside_the_training_range_pushes_no_further_than_its_edge():
    """The router saw prompts of 35-80 tokens: a 2,000-token prompt weighs as much as one 3 spreads long, no more."""
    from hybrid_magic.router.learned_policy import EDGE

    index = ROUTER.features.index("prompt_length")
    edge = ROUTER.means[index] + EDGE * ROUTER.scales[index]
    length = lambda tokens: Signal("prompt_length", "before", float(tokens), None, False, "")  # noqa: E731
    at_edge, huge = (ROUTER.contributions([length(t), answer_term(0.0)])["prompt_length"] for t in (edge, 2000))
    typical = ROUTER.contributions([length(ROUTER.means[index]), answer_term(0.0)])["prompt_length"]
    assert huge == at_edge < typical  # a longer prompt pushes towards the cloud, up to its edge
    assert ROUTER.p_correct([length(2000), answer_term(2.0)]) > 0.2  # the answer can still keep it local


def test_a_deadline_the_answer_cannot_meet_hands_off_and_a_firm_request_names_itself():
    """--deadline is the user's request: the router obeys `slow` like `--cloud`, and the card names what decided
    (not an earlier signal that fired while the answer streamed)."""
    slow = Signal("slow", "during", 30.0, 5.0, True, "projected 30 s, deadline 5 s")
    d = decide(DEFAULT_POLICY, [answer_term(5.0), slow], PolicyParams(threshold=0.0))
    assert d.route == "cloud" and d.reason == "slow" and d.stage == "during"
    unsure = Signal("low_confidence", "during", 0.1, 0.25, True, "")
    broken = Signal("format", "after", 0.0, None, True, "not JSON")
    assert decide(DEFAULT_POLICY, [unsure, answer_term(5.0), broken], PolicyParams(threshold=0.0)).reason == "format"
