"""Widget views without a browser: build them from crafted RunRecords and check children and values."""
from __future__ import annotations

import math

import ipywidgets as widgets
import pytest

from hybrid_magic.compare import CloudSide, CompareResult, record_vote
from hybrid_magic.display import session
from hybrid_magic.display.compare_view import CompareView, compare_bundle, word_diff_html
from hybrid_magic.display.confidence import confidence_html
from hybrid_magic.display.dashboard import median_latency, show_dashboard
from hybrid_magic.display.mime import MIME_TYPE
from hybrid_magic.display.widgets import DecisionCard
from hybrid_magic.ledger import Ledger
from hybrid_magic.types import CloudStats, Decision, LocalStats, RunRecord, Signal, TokenEvent

LOW = Signal("low_confidence", "during", 0.31, 0.5, True, "Mean token probability was 0.31, below 0.50.")
CALM = Signal("high_entropy", "during", 1.2, 3.0, False, "Mean token entropy was 1.20 nats, at or below 3.00.")
PRIVACY = Signal("privacy", "before", 1.0, 0.0, True, "The prompt contains 1 sensitive item (api_key), so it "
                 "is not sent to the cloud.", blocks_handoff=True)
TOKENS = [TokenEvent("Par", 1, math.log(0.9), 0.1, (("Par", math.log(0.9)), ("Lon", math.log(0.05)))),
          TokenEvent("is", 2, math.log(0.2), 2.0, (("is", math.log(0.2)), ("ma", math.log(0.1))))]


def local_stats(**kw) -> LocalStats:
    return LocalStats("transformers", "smollm2-135m", prompt_tokens=12, completion_tokens=2, ttft_s=0.25,
                      tokens_per_s=14.5, seconds=0.4, **kw)


def handed_off() -> RunRecord:
    decision = Decision("cloud", True, True, None, (LOW, CALM), "cascade", 0.31, "during", reason="low_confidence")
    cloud = CloudStats("gpt-4o-mini", "api.openai.com", 20, 7, 0.5, 1.25, None)
    return RunRecord("hybrid", decision, local_stats(stopped_early=True), cloud, "2026-01-01T00:00:00Z",
                     answer="Paris.", local_text="Paris", tokens=TOKENS)


def blocked() -> RunRecord:
    decision = Decision("local", True, False, "privacy", (PRIVACY, LOW, CALM), "cascade", reason="low_confidence")
    return RunRecord("hybrid", decision, local_stats(), None, "2026-01-01T00:00:00Z", answer="x", tokens=TOKENS)


def test_card_handed_off_shows_route_signals_metrics_and_collapsed_draft():
    card = DecisionCard(handed_off())
    assert ">cloud<" in card.badge.value and "low_confidence 0.31 vs 0.50" in card.badge.value
    assert "low_confidence" in card.signals.value and "high_entropy" not in card.signals.value
    assert card.show_all.value is False
    card.show_all.value = True  # the toggle shows every signal, triggered first
    assert card.signals.value.index("low_confidence") < card.signals.value.index("high_entropy")
    assert "cost unknown" in card.metrics.value and "$0" not in card.metrics.value
    assert "0.25s" in card.metrics.value and "12 / 2 (stopped early)" in card.metrics.value
    assert "20 / 7" in card.metrics.value
    assert isinstance(card.draft, widgets.Accordion) and card.draft.selected_index is None
    assert card.draft.titles[0] == "local draft (2 tokens, stopped early)"
    assert card.draft.children[0] is card.confidence and "hm-token" in card.confidence.value
    assert card.draft in card.children and card.badge in card.children


def test_card_blocked_handoff_and_explain():
    card = DecisionCard(blocked(), explain=True)
    assert "handoff blocked" in card.badge.value and "privacy" in card.badge.value
    assert card.show_all.value is True and "high_entropy" in card.signals.value
    assert card.draft.titles[0].startswith("token confidence")
    failed = blocked()
    failed.decision = Decision("local", True, False, "cloud_error", (LOW,), "cascade")
    failed.error = "The cloud did not answer (connection refused)."
    card = DecisionCard(failed)
    assert "handoff failed" in card.badge.value and "connection refused" in card.error.value


def test_card_with_known_cost_shows_dollars():
    record = handed_off()
    record.cloud.cost_usd = 0.000123
    assert "$0.000123" in DecisionCard(record).metrics.value


def test_confidence_view_shades_by_probability_with_tooltips():
    page = confidence_html(TOKENS)
    assert page.count("class='hm-token'") == 2
    assert "data-p='0.9000'" in page and "data-p='0.2000'" in page
    assert "logprob -0.105 (p=0.90)" in page and "alternatives: &#x27;Par&#x27; -0.11, &#x27;Lon&#x27; -3.00" in page
    sure, unsure = page.split("rgba(230,81,0,")[1:3]
    assert float(sure.split(")")[0]) < float(unsure.split(")")[0])  # the unsure token is darker
    assert "no local tokens" in confidence_html([])


def test_word_diff():
    diff = word_diff_html("the cat sat", "the dog sat down")
    assert "<del style='background:#ffebee'>cat</del>" in diff and "<ins" in diff and "down" in diff


def compare_result(ledger: Ledger) -> CompareResult:
    local = blocked()
    local.magic, local.decision = "compare", Decision("local", False, False, None, (LOW,), "compare")
    cloud = handed_off()
    cloud.magic = "compare"
    local.run_id = ledger.record_run(local, prompt_redacted="p", all_cloud_cost_usd=0.0)
    cloud.run_id = ledger.record_run(cloud, prompt_redacted="p", all_cloud_cost_usd=None)
    would = Decision("cloud", True, True, None, (LOW, CALM), "cascade", 0.31, "during", reason="low_confidence")
    side = CloudSide(text="Paris.", stats=cloud.cloud, sent=True, started_s=0.01, finished_s=1.0)
    return CompareResult(local, cloud, side, would, 0.5, [local.run_id, cloud.run_id])


def test_compare_vote_button_writes_the_ledger_and_confirms(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite")
    result = compare_result(ledger)
    view = CompareView(lambda result, choice: record_vote(ledger, result, choice))
    assert all(b.disabled for b in view.vote_buttons)
    view.finish(result)
    assert "%%hybrid would have decided" in view.would.value and ">cloud<" in view.would.value
    assert view.diff_toggle.disabled is False and view.diff.layout.display == "none"
    view.diff_toggle.value = True
    assert view.diff.layout.display is None
    [cloud_button] = [b for b in view.vote_buttons if b.description == "cloud"]
    cloud_button.click()
    assert {r["vote"] for r in ledger.runs()} == {"cloud"}
    assert "vote recorded: cloud" in view.vote_status.value
    bundle = compare_bundle(result, view)
    assert bundle[MIME_TYPE]["magic"] == "compare" and bundle[MIME_TYPE]["compare"]["run_ids"] == result.run_ids
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == view.model_id
    with pytest.raises(ValueError):
        record_vote(ledger, result, "both")


def test_compare_without_cloud_says_so(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite")
    result = compare_result(ledger)
    result.cloud, result.cloud_side = None, CloudSide(error="No cloud: No OpenAI API key: set OPENAI_API_KEY.")
    view = CompareView()
    view.finish(result)
    assert "No OpenAI API key" in view.cloud_pane.status.value and view.diff_toggle.disabled
    assert "No OpenAI API key" in compare_bundle(result)["text/plain"]


class _Magics:
    """What the dashboard reads from the magics: their Views and the session's runs."""

    def __init__(self, ledger):
        self.ledger, self.views = ledger, session.Views()

    def session_runs(self):
        rows = self.ledger.runs()
        return rows, self.ledger.totals(rows)


def test_dashboard_updates_after_runs_and_unregisters(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite")
    magics = _Magics(ledger)
    board = show_dashboard(magics)
    assert "no runs yet" in board.runs.value and magics.views.listeners == [board.refresh]
    ledger.record_run(handed_off(), prompt_redacted="p", all_cloud_cost_usd=0.002)
    ledger.record_run(blocked(), prompt_redacted="p", all_cloud_cost_usd=0.001)
    magics.views.notify_run()
    assert board.runs.value.count("<tr>") == 3 and "blocked by privacy" in board.runs.value
    assert "cloud <b>1</b>" in board.totals.value and "local <b>1</b>" in board.totals.value
    assert "cost unknown" in board.runs.value
    second = show_dashboard(magics)  # the first one stops listening
    assert magics.views.listeners == [second.refresh]
    second.close()
    assert magics.views.listeners == []


def test_median_latency_per_route():
    rows = [{"route": "local", "local_seconds": s, "cloud_seconds": None} for s in (1.0, 3.0, 2.0)]
    rows.append({"route": "cloud", "local_seconds": 0.5, "cloud_seconds": 1.5})
    assert median_latency(rows) == {"cloud": 2.0, "local": 2.0}


def test_reasoning_is_collapsed_apart_from_the_answer():
    record = handed_off()
    record.reasoning = "First, <b>recall</b> the capital."
    card = DecisionCard(record)
    assert card.reasoning in card.children and card.reasoning.selected_index is None
    assert "&lt;b&gt;recall" in card.reasoning.children[0].value, "reasoning text is escaped"
    assert DecisionCard(handed_off()).reasoning is None


def test_secrets_are_masked_in_every_shown_text():
    from hybrid_magic.display.render import answer_bundle
    from hybrid_magic.display.safe import for_prompt, masked_token_texts, shown

    key = "sk-proj-Zx8vQ2mN4bT7yR1wK9pL3sD6fG0hJ5cE"
    assert key not in answer_bundle(f"Your key is {key}.", "text")["text/plain"]
    echoed = "The key is sk-proj-Zx8vQ2mN4"  # cut short: no detector matches it alone
    assert shown(echoed) == echoed
    with for_prompt(f"My key is {key}. Write a limerick."):
        assert "Zx8vQ2mN4" not in shown(echoed) and shown(echoed).startswith("The key is")
        tokens = masked_token_texts(["The key", " is sk", "-proj-Zx8", "vQ2mN4", " ok"])
        assert "".join(tokens).endswith(" ok") and "Zx8" not in "".join(tokens)
    assert shown(echoed) == echoed, "the prompt's secrets are forgotten after the cell"


def test_html_card_of_a_handoff_shows_the_draft_masked():
    from hybrid_magic.display.render import card_html

    record = handed_off()
    record.local_text = "Par sk-proj-Zx8vQ2mN4bT7yR1wK9pL3sD6fG0hJ5cE"
    page = card_html(record)
    assert "local draft" in page and "[REDACTED:openai_key]" in page and "Zx8vQ2" not in page
