"""Policy tables: which route, who blocked, at what stage, for every policy."""
from __future__ import annotations

import math

import pytest

from hybrid_magic.errors import UsageError
from hybrid_magic.router import policy as pol
from hybrid_magic.router import signals as sg
from hybrid_magic.router.policy import POLICIES, PolicyParams, decide, register_policy
from hybrid_magic.router.signals import Thresholds
from hybrid_magic.types import Decision, Signal

TH = Thresholds()
SECRET_PROMPT = "use sk-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"

# named signal sets, built with the real signal functions
CALM = [sg.prompt_length(40), sg.forced_cloud(False), sg.private_mode(False),
        sg.privacy("hello", detect_pii=False, allow_sensitive=False), sg.budget(0, 0.001, 1.0)]
UNSURE = sg.low_confidence([math.log(0.2)] * 8, TH)
SURE = sg.low_confidence([math.log(0.9)] * 8, TH)
LOOP = sg.repetition([1, 2] * 8, TH)
OVERFLOW = sg.context_overflow(2000, 128, 2048)
FORCED = sg.forced_cloud(True)
PRIVATE = sg.private_mode(True)
LEAK = sg.privacy(SECRET_PROMPT, detect_pii=False, allow_sensitive=False)
ALLOWED_LEAK = sg.privacy(SECRET_PROMPT, detect_pii=False, allow_sensitive=True)
BROKE = sg.budget(0.99, 0.05, 1.0)
UNPRICED = sg.budget(0.0, None, 1.0)
TRUNCATED = sg.truncated("length")
REFUSED = sg.refusal("I don't know.")
UNAVAILABLE = sg.low_confidence([None] * 8, TH)

CASCADE = [
    # label, signals, route, requested, blocked_by, stage, score
    ("nothing triggered", CALM + [SURE], "local", False, None, None, None),
    ("low confidence", CALM + [UNSURE], "cloud", True, None, "during", pytest.approx(0.2)),
    ("loop", CALM + [LOOP], "cloud", True, None, "during", 16.0),
    ("overflow hands off before", CALM + [OVERFLOW], "cloud", True, None, "before", 2128.0),
    ("--cloud", CALM + [FORCED], "cloud", True, None, "before", 1.0),
    ("after: refusal", CALM + [SURE, REFUSED], "cloud", True, None, "after", 1.0),
    ("truncation is shown, not acted on", CALM + [SURE, TRUNCATED], "local", False, None, None, None),
    ("earliest stage decides", [REFUSED, UNSURE, FORCED], "cloud", True, None, "before", 1.0),
    ("privacy blocks", CALM + [UNSURE, LEAK], "local", True, "privacy", "during", pytest.approx(0.2)),
    ("privacy blocks --cloud", [FORCED, LEAK], "local", True, "privacy", "before", 1.0),
    ("allowed secret goes", [UNSURE, ALLOWED_LEAK], "cloud", True, None, "during", pytest.approx(0.2)),
    ("allowed secret alone requests nothing", [ALLOWED_LEAK], "local", False, None, None, None),
    ("budget blocks", [REFUSED, BROKE], "local", True, "budget", "after", 1.0),
    ("unknown price blocks", [OVERFLOW, UNPRICED], "local", True, "budget", "before", 2128.0),
    ("private mode blocks", [PRIVATE, FORCED], "local", True, "private", "before", 1.0),
    ("guards alone request nothing", [LEAK, BROKE, PRIVATE], "local", False, None, None, None),
    ("unavailable never requests", [UNAVAILABLE], "local", False, None, None, None),
]


@pytest.mark.parametrize("label, signals, route, requested, blocked_by, stage, score", CASCADE,
                         ids=[c[0] for c in CASCADE])
def test_cascade(label, signals, route, requested, blocked_by, stage, score):
    d = decide("cascade", signals)
    assert (d.route, d.handoff_requested, d.blocked_by, d.stage) == (route, requested, blocked_by, stage)
    assert d.handoff_performed is (route == "cloud")
    assert d.score == score
    assert d.policy == "cascade"


def test_first_blocker_in_stage_order_is_named():
    d = decide("cascade", [BROKE, PRIVATE, FORCED])
    assert d.blocked_by in {"budget", "private"}
    assert d.blocked_by == next(s.name for s in d.signals if s.blocks_handoff)


BASELINES = [
    # policy, params, signals, route, requested, blocked_by, score
    ("always-local", PolicyParams(), CALM + [UNSURE, FORCED], "local", False, None, None),
    ("always-cloud", PolicyParams(), CALM, "cloud", True, None, None),
    ("always-cloud", PolicyParams(), CALM + [LEAK], "local", True, "privacy", None),
    ("always-cloud", PolicyParams(), [PRIVATE], "local", True, "private", None),
    ("length", PolicyParams(), [sg.prompt_length(256)], "local", False, None, 256.0),
    ("length", PolicyParams(), [sg.prompt_length(257)], "cloud", True, None, 257.0),
    ("length", PolicyParams(threshold=30), CALM, "cloud", True, None, 40.0),
    ("length", PolicyParams(threshold=30), CALM + [BROKE], "local", True, "budget", 40.0),
    ("length", PolicyParams(threshold=50), CALM + [UNSURE], "local", False, None, 40.0),
    ("random", PolicyParams(threshold=1.0, seed_key="a"), CALM, "cloud", True, None, pol.uniform_draw("a")),
    ("random", PolicyParams(threshold=0.0, seed_key="a"), CALM, "local", False, None, pol.uniform_draw("a")),
    ("random", PolicyParams(threshold=1.0, seed_key="a"), [LEAK], "local", True, "privacy", pol.uniform_draw("a")),
]


@pytest.mark.parametrize("name, params, signals, route, requested, blocked_by, score", BASELINES)
def test_baselines(name, params, signals, route, requested, blocked_by, score):
    d = decide(name, signals, params)
    assert (d.route, d.handoff_requested, d.blocked_by, d.score) == (route, requested, blocked_by, score)
    assert d.handoff_performed is (route == "cloud") and d.policy == name
    assert d.stage == ("before" if requested else None)


def test_random_is_deterministic_per_key_and_near_its_rate():
    params = [PolicyParams(threshold=0.3, seed_key=f"cell-{i}") for i in range(2000)]
    routes = [decide("random", CALM, p).route for p in params]
    assert routes == [decide("random", CALM, p).route for p in params]
    assert 0.25 < routes.count("cloud") / len(routes) < 0.35
    draws = {pol.uniform_draw(f"k{i}") for i in range(100)}
    assert len(draws) == 100 and all(0.0 <= d < 1.0 for d in draws)


@pytest.mark.parametrize("name, params, signals, error", [
    ("nope", PolicyParams(), CALM, "known policies: always-cloud, always-local, cascade"),
    ("random", PolicyParams(threshold=1.5), CALM, "between 0 and 1"),
    ("length", PolicyParams(), [UNSURE], "prompt_length"),
])
def test_usage_errors(name, params, signals, error):
    with pytest.raises(UsageError, match=error):
        decide(name, signals, params)


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_every_decision_keeps_all_signals_in_order(name):
    signals = [sg.prompt_length(40), REFUSED, SURE, FORCED, UNSURE, LEAK, TRUNCATED, OVERFLOW]
    d = decide(name, signals, PolicyParams(seed_key="x"))
    assert sorted(map(repr, d.signals)) == sorted(map(repr, signals))
    names = [s.name for s in d.signals]
    assert names == ["forced_cloud", "privacy", "context_overflow", "low_confidence", "refusal", "truncated",
                     "prompt_length", "low_confidence"]
    triggered = [s.triggered for s in d.signals]
    assert triggered == sorted(triggered, reverse=True)


def test_registered_policy_is_used_and_cannot_leak():
    def cloud_if_entropy(signals, params) -> Decision:
        return Decision("cloud", True, True, None, (), "whatever", score=0.7, stage="during")

    register_policy("test-always-up", cloud_if_entropy)
    try:
        d = decide("test-always-up", CALM)
        assert (d.route, d.policy, d.signals, d.score) == ("cloud", "test-always-up", pol.ordered(CALM), 0.7)
        blocked = decide("test-always-up", CALM + [LEAK])
        assert (blocked.route, blocked.blocked_by, blocked.handoff_performed) == ("local", "privacy", False)
    finally:
        POLICIES.pop("test-always-up")


def test_register_policy_rejects_nonsense():
    with pytest.raises(ValueError):
        register_policy("", lambda s, p: None)


def test_decision_is_plain_data():
    d = decide("cascade", CALM + [UNSURE])
    assert isinstance(d.signals, tuple) and all(isinstance(s, Signal) for s in d.signals)
    assert d.signals[0] == UNSURE
