"""One cascade: live %%hybrid, an Experiment's recording and its replay decide the same.

Real SmolLM2 (transformers) locally, the stand-in cloud behind the counting proxy.
Each prompt runs through live %%hybrid under every registered policy (a learned one
fitted on the experiment, with the local model's hidden states, included); the same
prompts are recorded once by an Experiment and replayed with each policy. Route, reason, stop token and the learned
policy's hidden-state term must agree for every item and policy.
"""
from __future__ import annotations

import pandas as pd
import pytest

from hybrid_magic.cascade import NEVER, NOTE, STOP, PromptFacts, Rules, RecordedSource, prepare, run_cascade
from hybrid_magic.model_handoff import NO_OFFER, Offer
from hybrid_magic.router import signals as sig
from hybrid_magic.router.policy import POLICIES, PolicyParams
from hybrid_magic.types import DEFAULT_POLICY, TokenEvent

THRESHOLD = 0.5  # the default knob: a mix of early, after and no handoffs on SmolLM2
MAX_TOKENS = 16
POLICY_TERMS = ("hidden_states", "answer_features")  # a learned policy's own readings of the tokens
ITEMS = [
    {"id": "capital", "prompt": "What is the capital of France?", "reference": "Paris"},
    {"id": "add", "prompt": "What is 2 + 3? Answer with the number only.", "reference": 5, "scorer": "numeric"},
    {"id": "limerick", "prompt": "Write a limerick about the prime number 7919.", "reference": "no such answer"},
    {"id": "json", "prompt": "Say hello to Bob.", "reference": {"greeting": "hello"}, "scorer": "json",
     "format": "json"},
    {"id": "colour", "prompt": "Name a colour.", "reference": "red|blue|green|yellow", "scorer": "regex"},
    {"id": "product", "prompt": "What is 17 * 23? Answer with the number only.", "reference": 391,
     "scorer": "numeric"},
    {"id": "qcd", "prompt": "Explain the running of the strong coupling constant in QCD.", "reference": "asymptotic"},
    {"id": "finnish", "prompt": "Translate 'good morning' into Finnish.", "reference": "huomenta"},
]


def live_decisions(shell, magics, policy: str) -> dict[str, tuple]:
    """(route, reason, stop token, tokens, learned terms, where a learned policy was asked) of each item through
    live %%hybrid with this policy."""
    found = {}
    for item in ITEMS:
        fmt = f" --format {item['format']}" if "format" in item else ""
        shell.run_cell_magic("hybrid", f"--max-tokens {MAX_TOKENS} --policy {policy} --out live{fmt}", item["prompt"])
        record = shell.user_ns.pop("live").record
        assert record.error is None, record.error
        stop = len(record.tokens) - 1 if record.local is not None and record.local.stopped_early else None
        terms = {s.name: s.value for s in record.decision.signals if s.name in POLICY_TERMS}
        found[item["id"]] = (record.decision.route, record.decision.reason, stop, [t.token_id for t in record.tokens],
                             terms, [index for index, _ in record.decision.estimates])
    return found


@pytest.fixture(scope="module")
def backend(model_dir):
    from hybrid_magic.backends import get_backend
    from hybrid_magic.models import resolve

    return get_backend("transformers", resolve("smollm2-135m", str(model_dir.parent)))[0]


@pytest.mark.timeout(3600)  # 8 prompts x every policy live, on a shared 2-core machine
def test_live_hybrid_experiment_and_replay_agree_for_every_policy(shell, cloud_magics, backend, tmp_path):
    from hybrid_magic.experiments import Experiment, replay

    th = sig.Thresholds(low_confidence=THRESHOLD)
    exp = Experiment(ITEMS, local=backend, max_tokens=MAX_TOKENS, thresholds=th, self_check=False,
                     store=str(tmp_path / "exp.sqlite"))
    table = exp.run(progress=False).set_index("id")
    exp.fit_policy("learned-agreement", test_size=0.25, seed=0)
    cloud_magics.threshold = THRESHOLD
    cloud_magics.cloud_timeout_s = 900.0  # a busy test machine must not turn a slow stand-in into a cloud error
    recs = {rec.item["id"]: rec for rec in exp.recorded()}
    agree, total, routes, state_terms, answer_terms, estimated = 0, 0, set(), 0, 0, 0
    for policy in sorted(POLICIES):
        live = live_decisions(shell, cloud_magics, policy)
        for item in ITEMS:
            rec = recs[item["id"]]
            verdict = replay.replay_item(rec, policy, th, PolicyParams(seed_key=item["prompt"]))
            route, reason, stop, tokens, terms, asked = live[item["id"]]
            replayed = (verdict.route, verdict.decision.reason, verdict.stop_index)
            assert replayed == (route, reason, stop), (policy, item["id"])
            # the timeline of a learned decision: its estimates at the same tokens (a firm request has none)
            assert [index for index, _ in verdict.decision.estimates] == asked, (policy, item["id"])
            estimated += policy == DEFAULT_POLICY and len(asked) > 0
            replayed_terms = {s.name: s.value for s in verdict.decision.signals if s.name in POLICY_TERMS}
            assert replayed_terms.keys() == terms.keys(), (policy, item["id"], replayed_terms, terms)
            for name, value in terms.items():
                # float noise only: the recording computed these tokens' logprobs in a batch, live alone
                same = value == replayed_terms[name] or abs(value - replayed_terms[name]) < 1e-4
                assert same, ("the same learned term", name, policy, item["id"], replayed_terms[name], value)
            if policy == "learned-agreement":
                state_terms += terms.get("hidden_states") is not None  # live read the cell's hidden states
                answer_terms += terms.get("answer_features") is not None  # and its answer's token features
            recorded_ids = [t["token_id"] for t in rec.local["tokens"] if t["token_id"] is not None]
            if policy != "always-local":  # always-local offers no handoff, so its cell is sent no instruction
                assert recorded_ids[:len(tokens)] == tokens, ("the same messages reach the same model", policy, item)
            if policy == DEFAULT_POLICY:  # the experiment's own results table shows the default policy's decisions
                row = table.loc[item["id"]]  # pandas keeps a missing reason as NaN
                assert (row["route"], None if pd.isna(row["handoff_reason"]) else row["handoff_reason"]) == (route, reason)
            if policy == "cascade":
                routes.add("early" if stop is not None else verdict.decision.stage or "local")
            agree, total = agree + 1, total + 1
    print(f"\nagreement: {agree}/{total} (items x policies: {len(ITEMS)} x {len(POLICIES)})")
    assert routes == {"early", "after", "local"}, f"the mix must cover every path, got {routes}"
    assert state_terms > 0, "the learned policy was fitted with hidden states: live must give it the cell's"
    assert answer_terms > 0, "the learned policy weighs the answer's features: live must give it the cell's"
    assert estimated > 0, "the default router's decisions carry its estimates for the timeline"


# ---- the stop rules on hand-made tokens (pure logic) ---------------------------------------

def events(probs: list[float], last_reason: str | None) -> list[TokenEvent]:
    """Tokens with these probabilities; the last one carries `last_reason`, else a bare closing event follows."""
    import math

    made = [TokenEvent(f"t{i}", token_id=i, logprob=math.log(p), entropy=0.5) for i, p in enumerate(probs)]
    if last_reason is None:
        return made + [TokenEvent("", finish_reason="stop")]
    return made[:-1] + [TokenEvent(made[-1].text, made[-1].token_id, made[-1].logprob, 0.5,
                                   finish_reason=last_reason)]


def drive(probs, stop, last_reason=None, **rules):
    facts = PromptFacts("q", 10, 16, 2048)
    prepared = prepare([{"role": "user", "content": "q"}], NO_OFFER, lambda m, t: 10, lambda n: facts)
    source = RecordedSource(events(probs, last_reason), None, 16)
    return run_cascade(prepared, Rules(thresholds=sig.Thresholds(window=2, min_tokens=2), **rules),
                       lambda first: source, stop)


@pytest.mark.parametrize("stop, tokens_seen, stop_index, stage", [
    (STOP, 4, 3, "during"),  # ends local generation at the first firing token the policy accepts
    (NOTE, 6, 3, "during"),  # notes it and keeps going; the verdict is what STOP decided
    (NEVER, 6, None, "during"),  # never asks while streaming: the whole answer, judged at the end
])
def test_stop_rules(stop, tokens_seen, stop_index, stage):
    verdict = drive([0.9, 0.9, 0.1, 0.1, 0.9, 0.9], stop)
    assert len(verdict.local.tokens) == tokens_seen and verdict.local.stop_index == stop_index
    assert verdict.route == "cloud" and verdict.decision.stage == stage and verdict.decision.reason == "low_confidence"


def test_without_early_handoff_the_answer_is_finished_then_judged():
    verdict = drive([0.9, 0.9, 0.1, 0.1, 0.9, 0.9], STOP, early_handoff=False)
    assert len(verdict.local.tokens) == 6 and verdict.stop_index is None and verdict.route == "cloud"


def test_the_final_token_reaches_the_monitor():
    kept = drive([0.9, 0.9, 0.9, 0.9, 0.9, 0.1], STOP, "stop")
    assert kept.route == "local" and kept.local.finish_reason == "stop", "mean 0.5 over the window: not below"
    low = drive([0.9, 0.9, 0.9, 0.9, 0.1, 0.1], STOP, "stop")
    assert low.stop_index == 5 and low.decision.stage == "during", "the last token fired and decided"


def test_a_guard_drops_the_offer_and_what_is_sent_is_counted():
    facts = lambda n: PromptFacts("q", n, 16, 2048, private=True)  # noqa: E731
    prepared = prepare([{"role": "user", "content": "q"}], Offer("line"), lambda m, t: 5 * len(m), facts)
    assert prepared.offer.form is None and prepared.facts.prompt_tokens == 5


# ---- layers: nothing calls upward; display only renders ----------------------------------------

def imported_modules(path) -> set[str]:
    """hybrid_magic modules a file imports (relative imports resolved), at any depth in the file."""
    import ast

    package = ".".join(["hybrid_magic", *path.relative_to(PACKAGE).parts[:-1]])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p).strip(".")
            found |= {module} | {f"{module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {m for m in found if m.startswith("hybrid_magic.")}


from pathlib import Path  # noqa: E402

PACKAGE = Path(__file__).resolve().parents[1] / "hybrid_magic"
RUNS_THINGS = ("engine", "cascade", "handoff", "compare", "cloud", "ledger", "backends", "models", "selfcheck",
               "magics", "experiments")


@pytest.mark.parametrize("path", sorted((PACKAGE / "display").glob("*.py")), ids=lambda p: p.name)
def test_display_imports_nothing_that_runs_a_model_the_cloud_or_the_ledger(path):
    upward = {m for m in imported_modules(path) if m.split(".")[1] in RUNS_THINGS}
    assert upward == set(), f"{path.name} imports {sorted(upward)}"


@pytest.mark.parametrize("layer, forbidden", [
    ("router", RUNS_THINGS + ("display",)),
    ("backends", ("engine", "cascade", "handoff", "compare", "ledger", "magics", "display", "experiments")),
])
def test_lower_layers_never_import_upward(layer, forbidden):
    for path in (PACKAGE / layer).glob("*.py"):
        upward = {m for m in imported_modules(path) if m.split(".")[1] in forbidden}
        assert upward == set(), f"{layer}/{path.name} imports {sorted(upward)}"
