"""Table tests for the routing signals (pure logic: crafted values and token streams)."""
from __future__ import annotations

import math
import re
import time

import pytest

from hybrid_magic.errors import UsageError
from hybrid_magic.router import signals as sg
from hybrid_magic.router.signals import DuringMonitor, Thresholds
from hybrid_magic.types import Decision, Signal, TokenEvent

TH = Thresholds()


def lp(p: float) -> float:
    return math.log(p)


def one_sentence(message: str) -> bool:
    return message.endswith(".") and "\n" not in message and not re.search(r"[.!?]\s+[A-Z]", message)


# ---- before ---------------------------------------------------------------------------

@pytest.mark.parametrize("prompt, max_new, budget, value, threshold, triggered, available", [
    (100, 28, 128, 128.0, 128.0, False, True),
    (101, 28, 128, 129.0, 128.0, True, True),
    (5000, 128, 2048, 5128.0, 2048.0, True, True),
    (10, 10, 0, 20.0, None, False, False),
])
def test_context_overflow(prompt, max_new, budget, value, threshold, triggered, available):
    s = sg.context_overflow(prompt, max_new, budget)
    assert (s.name, s.stage, s.value, s.threshold, s.triggered, s.available) == (
        "context_overflow", "before", value, threshold, triggered, available)
    assert not s.blocks_handoff and one_sentence(s.message)
    if available:
        assert str(budget) in s.message and str(int(value)) in s.message


@pytest.mark.parametrize("fn, flag, blocks", [
    (sg.forced_cloud, True, False), (sg.forced_cloud, False, False),
    (sg.private_mode, True, True), (sg.private_mode, False, False),
])
def test_flags(fn, flag, blocks):
    s = fn(flag)
    assert s.stage == "before" and s.triggered is flag and s.value == float(flag)
    assert s.blocks_handoff is blocks and one_sentence(s.message)


SECRET = "sk-proj-Zx81fQ2mV0pLr5sT7uWy3aBcDeFgHiJk"


@pytest.mark.parametrize("text, pii, allow, value, triggered, blocks, words", [
    ("Summarise the plot of Hamlet.", False, False, 0.0, False, False, ["No secrets"]),
    (f"Use key {SECRET} to call it.", False, False, 1.0, True, True, ["openai_key", "not sent"]),
    (f"Use key {SECRET} to call it.", False, True, 1.0, True, False, ["openai_key", "allowed"]),
    ("Mail ann@example.org about password=hunter22", True, False, 2.0, True, True, ["email", "password"]),
    ("Mail ann@example.org today.", False, False, 0.0, False, False, ["No secrets"]),
    ("Mail ann@example.org today.", True, False, 1.0, True, True, ["email"]),
])
def test_privacy_signal(text, pii, allow, value, triggered, blocks, words):
    s = sg.privacy(text, detect_pii=pii, allow_sensitive=allow)
    assert (s.name, s.stage, s.value, s.threshold) == ("privacy", "before", value, 0.0)
    assert (s.triggered, s.blocks_handoff) == (triggered, blocks)
    assert all(w in s.message for w in words), s.message
    assert SECRET not in s.message and "hunter22" not in s.message and "ann@" not in s.message


@pytest.mark.parametrize("spent, estimate, limit, value, triggered, words", [
    (0.5, 0.1, 0.0, 0.5, False, ["No cloud budget"]),
    (0.5, None, 0.0, 0.5, False, ["No cloud budget"]),
    (0.5, 0.1, 1.0, 0.6, False, ["within", "$1.00"]),
    (0.95, 0.1, 1.0, 1.05, True, ["over", "$1.00"]),
    (0.0, None, 1.0, 0.0, True, ["cannot be estimated", "cannot be guaranteed"]),
    (0.0, 0.00012, 1.0, 0.00012, False, ["$0.00012"]),
])
def test_budget(spent, estimate, limit, value, triggered, words):
    s = sg.budget(spent, estimate, limit)
    assert s.name == "budget" and s.value == pytest.approx(value)
    assert s.triggered is triggered and s.blocks_handoff is triggered
    assert all(w in s.message for w in words), s.message
    assert one_sentence(s.message)


def test_prompt_length_is_informational():
    s = sg.prompt_length(300)
    assert (s.value, s.threshold, s.triggered, s.stage) == (300.0, None, False, "before")
    assert "300" in s.message


@pytest.mark.parametrize("question, forms", [
    ("How many legs does a spider have?", (1.0, 0.0, 1.0)),
    ("Is a tomato a fruit or a vegetable?", (0.0, 1.0, 0.0)),
    ("  'which' planet is largest", (0.0, 0.0, 1.0)),
    ("Tell me how much a litre of water weighs, or roughly.", (1.0, 1.0, 0.0)),
    ("Name the author of Emma. Orwell? Austen?", (0.0, 0.0, 0.0)),  # words, not letters: "Orwell" offers no "or"
    ("Somehow the show went on: when, and for how long?", (0.0, 0.0, 0.0)),  # "Somehow" starts no wh-question
])
def test_question_form_reads_whole_words_of_the_prompt(question, forms):
    found = sg.question_form(question)
    assert [s.name for s in found] == list(sg.QUESTION_FORMS) == ["asks_how_many", "offers_choice", "wh_question"]
    assert tuple(s.value for s in found) == forms
    assert all(s.stage == "before" and not s.triggered and s.threshold is None for s in found)
    assert all("informational" in s.message and one_sentence(s.message) for s in found)
    assert ("does not ask" in found[0].message) is (forms[0] == 0.0)


def test_the_question_forms_are_informational_and_have_a_risk_direction():
    from hybrid_magic.experiments.analysis import SIGNAL_DIRECTIONS
    from hybrid_magic.experiments.learned import FEATURES
    from hybrid_magic.router.policy import INFORMATIONAL_SIGNALS

    assert set(sg.QUESTION_FORMS) <= INFORMATIONAL_SIGNALS & set(SIGNAL_DIRECTIONS) & set(FEATURES)


@pytest.mark.parametrize("question, quoted", [
    ("What is the capital of Peru?", False),
    ("Don't you think it's late? I'm sure it's closed, isn't it?", False),  # apostrophes in words quote nothing
    ("Who said 'Hi'?", False),  # a quoted word or two is not material
    ('"That\'s one small step for man." Who said it?', True),
    ("Receipt: 'Latte 3.20 / Croissant 2.10'. What kind of shop?", True),
    ("Text from Sam: \u201cRunning late, start without me\u201d. Is Sam coming on time?", True),
    ("name,age\nAda,36\nAlan,41\nWho is older?", True),  # several lines
    ("Ticket: Platform 9 | Coach D | Seat 41. What am I on?", True),  # a table's cells
])
def test_quotes_material_says_when_the_prompt_carries_a_passage_a_message_or_data(question, quoted):
    found = sg.quotes_material(question)
    assert (found.name, found.stage, found.value) == ("quotes_material", "before", float(quoted))
    assert not found.triggered and ("least reliable" in found.message) is quoted and one_sentence(found.message)
    own_words = {"prompt", "quotes", "material", "text", "several", "lines", "table", "such", "prompts", "router",
                 "estimate", "least", "reliable", "informational"}
    said = set(re.findall(r"[A-Za-z]{4,}", found.message)) - own_words
    assert not said & set(re.findall(r"[A-Za-z]{4,}", question)), "the message quotes none of the prompt's words"


def test_quotes_material_is_informational_and_no_policy_weighs_it():
    from hybrid_magic.experiments.learned import FEATURES
    from hybrid_magic.prompt import PromptFacts, before_signals
    from hybrid_magic.router.policy import INFORMATIONAL_SIGNALS, POLICIES
    from hybrid_magic.types import DEFAULT_POLICY

    assert "quotes_material" in INFORMATIONAL_SIGNALS and "quotes_material" not in FEATURES
    facts = PromptFacts("x", 10, 24, 2048, question="Note: 'Feed the cat at six.' Which pet?")
    found = {s.name: s for s in before_signals(facts)}
    assert found["quotes_material"].value == 1.0  # read from the question alone, live and in replay
    router = POLICIES[DEFAULT_POLICY]
    answer = Signal("answer_features", "after", 0.3, None, False, "")
    plain = [s for s in found.values() if s.name != "quotes_material"] + [answer]
    assert router.p_correct(plain + [found["quotes_material"]]) == router.p_correct(plain)


# ---- after: the answer's fit to the question (router/answer_fit.py) ---------------------------

@pytest.mark.parametrize("question, answer, values", [
    # missed_yes_no, missed_number, missed_choice, echoes_question (share of the answer's content words)
    ("Is a whale a mammal?", "Yes, it is.", (0.0, 0.0, 0.0, None)),  # no content words: no share
    ("Is a whale a mammal?", "A whale is a large mammal.", (1.0, 0.0, 0.0, 2 / 3)),
    ("Whales breathe air. Answer yes or no: do whales have gills?", "No.", (0.0, 0.0, 0.0, None)),
    ("My son asked me something. Can penguins fly?", "Penguins cannot fly, they swim.", (1.0, 0.0, 0.0, 0.4)),
    ("How many legs does a spider have?", "A spider has eight legs.", (0.0, 0.0, 0.0, 0.5)),
    ("How many legs does a spider have?", "Spiders have legs.", (0.0, 1.0, 0.0, 2 / 3)),
    ("In which year did Apollo 11 land?", "It landed in 1969.", (0.0, 0.0, 0.0, 0.0)),
    ("Should a man wear a tuxedo or a tailcoat?", "A tuxedo.", (0.0, 0.0, 0.0, 1.0)),
    ("Chickens - nocturnal or diurnal?", "Both nocturnal and diurnal.", (0.0, 0.0, 1.0, 2 / 3)),
    ("Is luge ice or snow?", "It is fast.", (0.0, 0.0, 1.0, 0.0)),  # a choice offered: not a yes/no question
    ("Name the author of Emma.", "", (0.0, 0.0, 0.0, None)),
    ("Is it raining or not?", "It is.", (1.0, 0.0, 0.0, None)),  # "or not" asks yes or no, offers no options
    ("Can you explain why the sky is blue?", "Sunlight scatters.", (0.0, 0.0, 0.0, 0.0)),  # a request, not yes/no
    ("Can you see Mars with the naked eye?", "Mars is bright.", (1.0, 0.0, 0.0, 0.5)),
    ("Tea, coffee or juice?", "Tea.", (0.0, 0.0, 0.0, 1.0)),  # a list of three: one named
    ("How old is she?", "Seventeen.", (0.0, 0.0, 0.0, 0.0)),
    ("Кит или акула?", "Кит.", (0.0, 0.0, 0.0, 1.0)),  # words in any script
    ("Does this code work?\nif a or b: pass", "It works.", (1.0, 0.0, 0.0, 0.0)),  # the asking sentence offers no "or"
    ("Is Dr. Lee in today?", "Dr. Lee works on Mondays.", (1.0, 0.0, 0.0, 0.5)),  # a title ends no sentence
    ("Can a dog swim? Answer yes or no.", "Yes or no: dogs swim.", (1.0, 0.0, 0.0, 0.5)),  # the instruction restated
    ("Can a dog swim? Answer yes or no.", "Yes or no? No, they sink.", (0.0, 0.0, 0.0, 0.0)),
    ("Snow is cold, no or yes?", "Snow is white.", (1.0, 0.0, 0.0, 0.5)),  # both named, in either order: asks yes or no
])
def test_answer_fit_checks_the_answer_against_what_the_question_asks(question, answer, values):
    found = sg.answer_fit(question, answer)
    assert [s.name for s in found] == ["missed_yes_no", "missed_number", "missed_choice", "echoes_question"]
    assert [s.value for s in found] == pytest.approx(values)
    assert all(s.stage == "after" and not s.triggered and s.threshold is None for s in found)
    assert all(("informational" in s.message) is s.available and one_sentence(s.message) for s in found)
    assert found[3].available is (values[3] is not None)


@pytest.mark.parametrize("question, answer, bare", [
    ("Is a whale a mammal?", "Yes, it is.", True),
    ("Can a dog swim? Answer yes or no.", "No.", True),
    ("Is a whale a mammal?", "A whale is a large mammal.", False),  # says neither
    ("How many legs does a spider have?", "No idea, maybe six.", False),  # the question does not ask yes or no
    ("Can a dog swim? Answer yes or no.", "Yes or no: dogs swim.", False),  # the instruction restated says neither
])
def test_a_bare_yes_or_no_is_a_caveat_no_policy_weighs(question, answer, bare):
    from hybrid_magic.experiments.learned import FEATURES
    from hybrid_magic.router.after import after_signals
    from hybrid_magic.router.policy import CAVEAT_SIGNALS, INFORMATIONAL_SIGNALS, POLICIES
    from hybrid_magic.types import DEFAULT_POLICY

    found = {s.name: s for s in after_signals(answer, "stop", "text", Thresholds(), question=question)}
    caveat = found["bare_yes_no"]
    assert (caveat.stage, caveat.value, caveat.triggered) == ("after", float(bare), False)
    assert ("could not tell" in caveat.message) is bare and one_sentence(caveat.message)
    assert "bare_yes_no" in CAVEAT_SIGNALS and "bare_yes_no" in INFORMATIONAL_SIGNALS and "bare_yes_no" not in FEATURES
    router = POLICIES[DEFAULT_POLICY]
    others = [s for s in found.values() if s.name != "bare_yes_no"]
    assert router.p_correct(others + [caveat]) == router.p_correct(others)
    assert "bare_yes_no" not in {s.name for s in after_signals(answer, "stop", "text", Thresholds())}  # no question


def test_the_card_says_each_caveat_that_holds_in_a_line_of_its_own():
    from hybrid_magic.display.mime import caveats, provenance_bundle
    from hybrid_magic.display.render import card_html
    from hybrid_magic.types import RunRecord

    holds = Signal("bare_yes_no", "after", 1.0, None, False, "A bare <b>yes</b> or no (informational).")
    quiet = Signal("quotes_material", "before", 0.0, None, False, "The prompt quotes no material (informational).")
    unread = Signal("quotes_material", "before", None, None, False, "unavailable", available=False)
    decision = Decision("local", False, False, None, (quiet, holds, unread), "router")
    assert caveats(decision) == ["A bare <b>yes</b> or no (informational)."]
    record = RunRecord("hybrid", decision, None, None, "2026-12-01T00:00:00Z", answer="Yes.")
    card = card_html(record)
    assert card.count("class='hm-caveat'") == 1 and "caveat: A bare &lt;b&gt;yes&lt;/b&gt; or no" in card
    from hybrid_magic.display.widgets import badge_html  # the live widget card's head

    assert badge_html(record).count("class='hm-caveat'") == 1
    assert provenance_bundle(record)["caveats"] == ["A bare <b>yes</b> or no (informational)."]
    plain = RunRecord("hybrid", Decision("local", False, False, None, (quiet,), "router"), None, None,
                      "2026-12-01T00:00:00Z", answer="Paris.")
    assert "class='hm-caveat'" not in card_html(plain) and provenance_bundle(plain)["caveats"] == []
    quoted = Signal("quotes_material", "before", 1.0, None, False, "The prompt quotes material (informational).")
    assert caveats(Decision("local", False, False, None, (quoted, holds), "router")) == [quoted.message, holds.message]


def test_a_choice_names_the_options_and_yes_or_no_is_not_one():
    from hybrid_magic.router.answer_fit import choice_options

    assert choice_options("Tea or coffee?") == ("tea", "coffee")
    assert choice_options("Is it a moth or an owl that hunts at night?") == ("moth", "owl")
    assert choice_options("Answer yes or no: is it raining?") == ()
    assert choice_options("Is it raining or not?") == ()
    assert choice_options("Which live longest: dogs, cats, birds or fish?") == ("dogs", "cats", "birds", "fish")
    assert choice_options("Name the author of Emma. Orwell? Austen?") == ()
    picked, neither = sg.answer_fit("Tea or coffee?", "Coffee, please.")[2], sg.answer_fit("Tea or coffee?", "Water.")[2]
    assert (picked.value, neither.value) == (0.0, 1.0)
    assert "names one option" in picked.message and "names none of them" in neither.message
    assert sg.answer_fit("Tea or coffee?", "Teapots.")[2].value == 1.0  # whole words (a plural counts), not prefixes
    assert not {"tea", "coffee", "water"} & set(re.findall(r"\w+", (picked.message + neither.message).lower()))


def test_the_answer_fit_is_read_live_from_the_users_prompt_alone_and_weighed_by_the_learned_policies():
    from hybrid_magic.experiments.analysis import SIGNAL_DIRECTIONS
    from hybrid_magic.experiments.learned import FEATURES
    from hybrid_magic.router.answer_fit import NAMES
    from hybrid_magic.router.policy import INFORMATIONAL_SIGNALS

    assert set(NAMES) <= INFORMATIONAL_SIGNALS & set(SIGNAL_DIRECTIONS) & set(FEATURES)
    without = sg.after_signals("Yes.", "stop", "text", TH)
    with_question = sg.after_signals("Yes.", "stop", "text", TH, question="Is a whale a mammal?")
    assert not set(NAMES) & {s.name for s in without}
    assert [s.name for s in with_question if s.name in NAMES] == list(NAMES)


# ---- during: pure functions ---------------------------------------------------------------

@pytest.mark.parametrize("probs, value, triggered, available", [
    ([], None, False, True),
    ([0.1, 0.1, 0.1], 0.1, False, True),  # below threshold but under min_tokens
    ([0.1] * 4, 0.1, True, True),
    ([0.9] * 4, 0.9, False, True),
    ([0.25] * 8, 0.25, False, True),  # at the threshold (half the knob while streaming): not below
    ([0.4] * 8, 0.4, False, True),  # below the knob, above half of it: the finished answer decides
    ([0.01] * 20 + [0.9] * 8, 0.9, False, True),  # only the last window counts
    ([0.9] * 20 + [0.2] * 8, 0.2, True, True),
    ([0.9] * 10 + [None], None, False, False),
])
def test_low_confidence(probs, value, triggered, available):
    s = sg.low_confidence([None if p is None else lp(p) for p in probs], TH)
    assert s.name == "low_confidence" and s.stage == "during" and s.threshold == 0.25
    assert s.triggered is triggered and s.available is available
    assert s.value == (None if value is None else pytest.approx(value))
    if not available:
        assert s.message == sg.NO_LOGPROBS
    if value is not None:
        assert f"{value:.2f}" in s.message and "0.25" in s.message


def test_low_confidence_message_reads_like_the_example():
    s = sg.low_confidence([lp(0.21)] * 8, TH)
    assert s.message == "Mean token probability over the last 8 tokens was 0.21, below 0.25."


@pytest.mark.parametrize("entropies, value, triggered, available", [
    ([4.0] * 3, 4.0, False, True),
    ([4.0] * 4, 4.0, True, True),
    ([1.0] * 8, 1.0, False, True),
    ([3.0] * 8, 3.0, False, True),
    ([5.0] * 8 + [0.5] * 8, 0.5, False, True),
    ([None] * 5, None, False, False),
])
def test_high_entropy(entropies, value, triggered, available):
    s = sg.high_entropy(entropies, TH)
    assert (s.name, s.triggered, s.available, s.threshold) == ("high_entropy", triggered, available, 3.0)
    assert s.value == (None if value is None else pytest.approx(value))


LOOP_CASES = [
    ("varied", list(range(40)), 0.0, False),
    ("one token 12x", [1, 2, 3] + [7] * 12, 12.0, True),
    ("one token 11x", [1, 2, 3] + [7] * 11, 11.0, False),
    ("digits 0 0 0", [5, 0, 0, 0], 3.0, False),
    ("bigram 6x", [9] + [1, 2] * 6, 12.0, True),
    ("trigram 4x", [1, 2, 3] * 4, 12.0, True),
    ("4-gram 3x", [8, 9] + [1, 2, 3, 4] * 3, 12.0, True),
    ("4-gram 2x", [1, 2, 3, 4] * 2, 0.0, False),
    ("sentence 10 tokens 3x", [100 + i for i in range(10)] * 3, 30.0, True),
    ("loop broken at the end", [1, 2] * 8 + [5], 0.0, False),
    ("partial copy counts", [1, 2, 3, 4] * 3 + [1, 2], 14.0, True),
]


@pytest.mark.parametrize("label, ids, value, triggered", LOOP_CASES, ids=[c[0] for c in LOOP_CASES])
def test_repetition(label, ids, value, triggered):
    s = sg.repetition(ids, TH)
    assert (s.name, s.stage, s.value, s.threshold, s.triggered) == ("repetition", "during", value, 12.0, triggered)
    assert one_sentence(s.message)


def test_repetition_respects_min_tokens():
    th = Thresholds(min_tokens=20, repetition_span=4)
    assert not sg.repetition([3] * 10, th).triggered
    assert sg.repetition([3] * 20, th).triggered


@pytest.mark.parametrize("done, elapsed, max_new, deadline, value, triggered, available", [
    (10, 1.0, 100, None, 10.0, False, True),
    (10, 1.0, 100, 5.0, 10.0, True, True),
    (10, 1.0, 100, 20.0, 10.0, False, True),
    (3, 1.0, 100, 5.0, 100 / 3, False, True),  # before min_tokens
    (0, 0.2, 100, 5.0, None, False, True),
    (10, None, 100, 5.0, None, False, False),
])
def test_slow(done, elapsed, max_new, deadline, value, triggered, available):
    s = sg.slow(done, elapsed, max_new, deadline)
    assert (s.name, s.threshold, s.triggered, s.available) == ("slow", deadline, triggered, available)
    assert s.value == (None if value is None else pytest.approx(value))
    assert one_sentence(s.message)


@pytest.mark.parametrize("kwargs", [
    {"low_confidence": 1.5}, {"answer_confidence": -0.1}, {"stream_confidence": 1.2}, {"answer_lowest": 0}, {"window": 0}, {"min_tokens": 0}, {"repetition_repeats": 1}, {"deadline_s": 0},
])
def test_bad_thresholds_are_usage_errors(kwargs):
    with pytest.raises(UsageError):
        Thresholds(**kwargs)


# ---- during: the incremental monitor ---------------------------------------------------------

def stream(probs, ids=None, entropies=None):
    ids = ids or list(range(len(probs)))
    entropies = entropies or [1.0] * len(probs)
    return [TokenEvent(text=f"t{i}", token_id=i_d, logprob=None if p is None else lp(p), entropy=e)
            for i, (p, i_d, e) in enumerate(zip(probs, ids, entropies))]


STREAMS = {
    "confident": stream([0.9] * 30),
    "dips late": stream([0.9] * 12 + [0.05] * 8),
    "dips early (before min_tokens)": stream([0.05] * 2 + [0.99] * 20),
    "entropy spike": stream([0.9] * 15, entropies=[0.5] * 6 + [6.0] * 9),
    "loops": stream([0.95] * 30, ids=[1, 2, 3, 4, 5] + [7, 8] * 12 + [1]),
    "no logprobs": stream([None] * 20, ids=[1] * 20, entropies=[None] * 20),
}


def pure_signals(events, elapsed, th, max_new):
    return [
        sg.low_confidence([e.logprob for e in events], th),
        sg.high_entropy([e.entropy for e in events], th),
        sg.repetition([e.token_id for e in events], th),
        sg.slow(len(events), elapsed, max_new, th.deadline_s, min_tokens=th.min_tokens),
    ]


@pytest.mark.parametrize("name", list(STREAMS))
def test_monitor_matches_pure_functions_at_every_token(name):
    th = Thresholds(deadline_s=50.0)
    monitor = DuringMonitor(th, max_tokens=64)
    events = STREAMS[name]
    for i, event in enumerate(events):
        first = monitor.observe(event, elapsed_s=0.1 * (i + 1))
        expected = pure_signals(events[: i + 1], 0.1 * (i + 1), th, 64)
        assert monitor.signals() == expected
        triggered = [s for s in expected if s.triggered]
        assert first == (triggered[0] if triggered else None)


def driven(events, th, max_tokens=64, seconds_per_token=None):
    """The cascade driver (STOP rule, cascade policy) over these tokens: where it stops, and the signals."""
    from hybrid_magic.cascade import STOP, RecordedSource, Rules, stream_local
    from hybrid_magic.model_handoff import NO_OFFER

    elapsed = None if seconds_per_token is None else [seconds_per_token * (i + 1) for i in range(len(events))]
    run = stream_local(RecordedSource(events, elapsed, max_tokens), [], Rules(thresholds=th), STOP, NO_OFFER)
    return run.stop_index, run.during


@pytest.mark.parametrize("name, stop_at, signal_name", [
    ("confident", None, None),
    ("dips late", 18, "low_confidence"),  # 7 of the last 8 at 0.05: mean 0.16 < 0.25 (half the knob)
    ("dips early (before min_tokens)", None, None),
    ("entropy spike", 9, "high_entropy"),
    ("loops", 16, "repetition"),
    ("no logprobs", 11, "repetition"),
])
def test_the_cascade_stops_where_the_monitor_first_fires(name, stop_at, signal_name):
    events = STREAMS[name]
    index, during = driven(events, TH, seconds_per_token=0.07)
    monitor = DuringMonitor(TH, max_tokens=64)
    fired = [monitor.observe(event, 0.07 * (i + 1)) for i, event in enumerate(events)]
    first = next((i for i, signal in enumerate(fired) if signal is not None), None)
    assert index == first == stop_at
    if signal_name:
        assert fired[first].name == signal_name and next(s for s in during if s.triggered).name == signal_name


def test_a_policy_weighs_the_prompt_state_from_the_first_token_on_early_handoffs_included():
    """The hidden-state reading is a during-signal: the policy deciding an early handoff sees it."""
    from hybrid_magic.cascade import STOP, RecordedSource, Rules, stream_local
    from hybrid_magic.model_handoff import NO_OFFER
    from hybrid_magic.router.policy import POLICIES, register_policy
    from hybrid_magic.router.states import hidden_states

    seen, reads = [], []

    def spy(signals, params):  # hands off at the first firing token, remembering what it was shown
        seen.append({s.name: s for s in signals})
        return Decision("cloud", True, True, None, tuple(signals), "spy")

    def read(tokens):
        reads.append(len(tokens))
        return hidden_states(-1.5)

    register_policy("spy-states", spy)
    try:
        events = STREAMS["dips late"]
        run = stream_local(RecordedSource(events, None, 64), [], Rules(policy="spy-states", thresholds=TH), STOP,
                           NO_OFFER, states=read)
        silent = stream_local(RecordedSource([], None, 64), [], Rules(policy="spy-states", thresholds=TH), STOP,
                              NO_OFFER, states=lambda tokens: hidden_states(None, f"{len(tokens)} tokens"))
    finally:
        POLICIES.pop("spy-states")
    assert reads == [1] and run.stop_index == 18  # read once, at the first token; stopped where the monitor fired
    shown = seen[0]["hidden_states"]
    assert (shown.stage, shown.value) == ("during", -1.5) and "low_confidence" in seen[0]
    assert [s.name for s in run.during].count("hidden_states") == 1
    assert [(s.name, s.available) for s in silent.during if s.name == "hidden_states"] == [("hidden_states", False)]


def test_the_answer_term_is_fitted_on_the_tokens_the_live_reading_keeps():
    """fit_policy reads a recording's answer features from `answer_tokens(events)`; live and replay read the
    cascade's own tokens: a bare closing event (a served model's "length") must count in neither."""
    from hybrid_magic.cascade import NEVER, RecordedSource, Rules, stream_local
    from hybrid_magic.model_handoff import NO_OFFER
    from hybrid_magic.router.after import answer_tokens
    from hybrid_magic.router.confidence import answer_features

    recorded = stream([0.9, 0.6, 0.8, 0.7]) + [TokenEvent(text="", token_id=None, logprob=None, finish_reason="length")]
    run = stream_local(RecordedSource(recorded, None, 64), [], Rules(thresholds=TH), NEVER, NO_OFFER)
    assert answer_features(answer_tokens(recorded)) == answer_features(run.tokens)
    assert answer_features(answer_tokens(recorded))["hit_limit"] == 0.0 != answer_features(recorded)["hit_limit"]


def test_slow_triggers_in_the_monitor_with_a_deadline():
    th = Thresholds(deadline_s=2.0)
    index, signals = driven(STREAMS["confident"], th, max_tokens=100, seconds_per_token=0.07)
    assert index == th.min_tokens - 1  # 100 tokens at 0.07 s = 7 s > 2 s, as soon as allowed
    assert next(s for s in signals if s.name == "slow").value == pytest.approx(7.0)


def test_replay_without_timing_marks_slow_unavailable():
    _, signals = driven(STREAMS["confident"], Thresholds(deadline_s=1.0))
    slow = next(s for s in signals if s.name == "slow")
    assert not slow.available and not slow.triggered


def test_closing_event_without_a_token_is_ignored():
    monitor = DuringMonitor(TH, max_tokens=8)
    for event in stream([0.9] * 5):
        monitor.observe(event, 0.1)
    before = monitor.signals()
    assert monitor.observe(TokenEvent(text="", finish_reason="stop"), 0.2) is None
    assert [s.value for s in monitor.signals()[:3]] == [s.value for s in before[:3]]


def test_monitor_cost_per_token():
    events = stream([0.9, 0.8, 0.7, 0.95] * 250, ids=list(range(1000)))
    monitor = DuringMonitor(Thresholds(deadline_s=1e9), max_tokens=4096)
    start = time.perf_counter()
    for i, event in enumerate(events):
        assert monitor.observe(event, 0.07 * (i + 1)) is None
    per_token_us = (time.perf_counter() - start) / len(events) * 1e6
    print(f"\nDuringMonitor.observe: {per_token_us:.1f} µs per token (budget ~1000 µs)")


# ---- after ----------------------------------------------------------------------------

@pytest.mark.parametrize("reason, triggered", [("length", True), ("stop", False), (None, False),
                                               ("early_handoff", False), ("interrupted", False)])
def test_truncated(reason, triggered):
    s = sg.truncated(reason)
    assert (s.name, s.stage, s.triggered, s.value) == ("truncated", "after", triggered, float(triggered))


@pytest.mark.parametrize("reason, fmt, format_ok, value, triggered, words", [
    ("length", "json", True, 1.0, False, "after a complete json answer"),  # chatter after the JSON was cut
    ("length", "json", False, 1.0, True, "may be cut off"),
    ("length", "text", None, 1.0, True, "may be cut off"),  # no check can say the answer was complete
    ("stop", "json", False, 0.0, False, "ended normally"),
])
def test_truncated_asks_for_a_handoff_only_when_the_answer_may_be_incomplete(reason, fmt, format_ok, value,
                                                                             triggered, words):
    s = sg.truncated(reason, fmt, format_ok)
    assert (s.value, s.triggered) == (value, triggered) and words in s.message and one_sentence(s.message)


def events(probs, closing=False):
    made = [TokenEvent(text=f"t{i}", token_id=i, logprob=None if p is None else lp(p)) for i, p in enumerate(probs)]
    return made + ([TokenEvent(text="", token_id=None, logprob=None, finish_reason="stop")] if closing else [])


@pytest.mark.parametrize("probs, value, triggered, available", [
    ([0.9] * 10, 0.9, False, True),
    ([0.9] * 8 + [0.1, 0.1], (0.1 * 0.1 * 0.9) ** (1 / 3), True, True),  # two unlikely tokens among sure ones
    ([0.95, 0.3, 0.3, 0.3], 0.3, False, True),  # at or above 0.25
    ([0.2], 0.2, True, True),  # fewer tokens than answer_lowest: the ones there are
    ([0.9, None, 0.9], None, False, False),
    ([], None, False, False),
])
def test_answer_confidence(probs, value, triggered, available):
    s = sg.answer_confidence(events(probs), TH)
    assert (s.name, s.stage, s.threshold, s.triggered, s.available) == (
        "answer_confidence", "after", TH.answer_threshold, triggered, available)
    assert s.value == (None if value is None else pytest.approx(value)) and one_sentence(s.message)


def test_answer_confidence_threshold_follows_the_confidence_knob_unless_set():
    assert Thresholds().answer_threshold == pytest.approx(0.5 * sg.ANSWER_SCALE)
    assert Thresholds(low_confidence=0.9).answer_threshold == pytest.approx(0.9 * sg.ANSWER_SCALE)
    assert Thresholds(low_confidence=0.9, answer_confidence=0.1).answer_threshold == 0.1
    unsure = events([0.9] * 5 + [0.3] * 3)
    assert not sg.answer_confidence(unsure, Thresholds(low_confidence=0.5)).triggered
    assert sg.answer_confidence(unsure, Thresholds(low_confidence=0.95)).triggered
    assert sg.answer_confidence(unsure, Thresholds(answer_lowest=8)).value == pytest.approx(0.9 ** (5 / 8) * 0.3 ** (3 / 8))


def test_low_confidence_cuts_the_stream_at_half_the_knob():
    assert sg.STREAM_SCALE == 0.5 and Thresholds(low_confidence=0.8).stream_threshold == pytest.approx(0.4)
    assert Thresholds(low_confidence=0.8, stream_confidence=0.1).stream_threshold == 0.1
    stream_of = [lp(0.3)] * 8
    assert sg.low_confidence(stream_of, Thresholds(low_confidence=0.8)).triggered
    assert not sg.low_confidence(stream_of, Thresholds(low_confidence=0.5)).triggered


def test_answer_confidence_ignores_the_closing_event_like_the_live_cascade():
    probs = [0.9, 0.4, 0.8]
    assert sg.answer_confidence(events(probs, closing=True), TH) == sg.answer_confidence(events(probs), TH)


@pytest.mark.parametrize("text, value, triggered, words", [
    ("20 + 98 = 198", 1.0, True, "20 + 98 = 198, but it is 118"),
    ("9 hours is 9 * 18 = 180 minutes", 1.0, True, "but it is 162"),
    ("726 - 424 = 28", 1.0, True, "but it is 302"),
    ("3 x 4 = 13", 1.0, True, "but it is 12"),
    ("7 - 2 = 5. Then 5 * 2 = 11.", 1.0, True, "(1 of 2 calculations are wrong)"),
    ("4 years is 4 * 12 = 48 months", 0.0, False, "1 calculation in the local answer checks out"),
    ("1,000 * 5 = 5,000 and 10 / 3 = 3.33", 0.0, False, "2 calculations"),
    ("2 + 3 * 4 = 14", 0.0, False, "no calculation"),  # inside a longer expression: not guessed
    ("x = 3, and 8 / 0 = 1", 0.0, False, "no calculation"),
    ("The capital of France is Paris.", 0.0, False, "no calculation"),
])
def test_arithmetic(text, value, triggered, words):
    s = sg.arithmetic(text)
    assert (s.name, s.stage, s.value, s.triggered) == ("arithmetic", "after", value, triggered)
    assert words in s.message and one_sentence(s.message)


@pytest.mark.parametrize("text, triggered", [
    ("I don't know the answer to that.", True),
    ("I’m not able to browse the web.", True),
    ("As an AI language model, I have no opinions.", True),
    ("Sorry. I cannot help with that request.", True),
    ("I am unable to verify this.", True),
    ("", True),
    ("391", False),
    ("Pi cannot be written as a fraction.", False),
    ("The capital of France is Paris.", False),
    ("Paris is the capital. " * 10 + "I don't know more.", False),  # not near the start
])
def test_refusal(text, triggered):
    s = sg.refusal(text)
    assert (s.name, s.stage, s.triggered, s.value) == ("refusal", "after", triggered, float(triggered))
    assert one_sentence(s.message)


@pytest.mark.parametrize("text, fmt, value, triggered, available", [
    ('{"a": 1}', "json", 1.0, False, True),
    ('Sure! ```json\n{"a": [1, 2]}\n```', "json", 1.0, False, True),
    ('Here it is: {"a": 1} hope that helps', "json", 1.0, False, True),
    ('The list: [1, 2, 3].', "json", 1.0, False, True),
    ('{"a": 1,', "json", 0.0, True, True),
    ("no json here", "json", 0.0, True, True),
    ("def f(x):\n    return x + 1\n", "code", 1.0, False, True),
    ("Here:\n```python\nprint('hi')\n```\nDone.", "code", 1.0, False, True),
    ("```python\ndef f(:\n```", "code", 0.0, True, True),
    ("", "code", 0.0, True, True),
    ("Anything goes.", "text", None, False, False),
    ("# Title", "markdown", None, False, False),
])
def test_format_check(text, fmt, value, triggered, available):
    s = sg.format_check(text, fmt)
    assert (s.name, s.stage, s.value, s.triggered, s.available) == ("format", "after", value, triggered, available)


def test_format_check_unknown_format():
    with pytest.raises(UsageError, match="json"):
        sg.format_check("x", "yaml")


@pytest.mark.parametrize("p_yes, value, triggered, available", [
    (0.9, 0.9, False, True), (0.5, 0.5, False, True), (0.2, 0.2, True, True), (None, None, False, False),
])
def test_self_check(p_yes, value, triggered, available):
    s = sg.self_check(p_yes, TH)
    assert (s.name, s.value, s.threshold, s.triggered, s.available) == ("self_check", value, 0.5, triggered, available)


def test_after_signals_lists_every_after_signal():
    got = sg.after_signals("I cannot do that: 2 + 2 = 5", "length", "json", TH, p_yes=0.1, tokens=events([0.1]))
    assert [s.name for s in got] == ["truncated", "refusal", "format", "answer_confidence", "answer_estimate",
                                     "arithmetic", "self_check"]
    assert all(s.stage == "after" and s.triggered for s in got)
    fine = sg.after_signals('{"a": 1} and more', "length", "json", TH, tokens=events([0.9] * 6))
    assert not any(s.triggered for s in fine)  # a complete JSON answer cut off in its chatter stays local
    assert not sg.after_signals("ok", "stop", "text", TH)[3].available  # no tokens given
