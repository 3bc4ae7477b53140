"""The handoff timeline: the bundle's `timeline` (no token text) and its inline SVG, on crafted
records (pure drawing) and on a real early-handoff cell (real model, real shell, stand-in cloud)."""
from __future__ import annotations

import math
from dataclasses import replace
import xml.etree.ElementTree as ET

import pytest
from IPython.utils.capture import capture_output

from hybrid_magic.display.mime import MIME_TYPE, provenance_bundle
from hybrid_magic.display.render import card_html
from hybrid_magic.display.timeline import timeline_svg
from hybrid_magic.router.policy import POLICIES
from hybrid_magic.types import DEFAULT_POLICY, CloudStats, Decision, LocalStats, RunRecord, Signal, TokenEvent

SVG = "{http://www.w3.org/2000/svg}"
PROBS = [0.95, 0.9, 0.97, 0.8, 0.7, 0.6, 0.4, 0.35, 0.3, 0.5, 0.2, 0.25]
LOW = Signal("low_confidence", "during", 0.36, 0.5, True, "Mean token probability was 0.36, below 0.50.")


def tokens(texts=None) -> list[TokenEvent]:
    texts = texts or [f"w{i}" for i in range(len(PROBS))]
    return [TokenEvent(t, i, math.log(p), 0.5 + i / 4) for i, (t, p) in enumerate(zip(texts, PROBS))]


def handoff_record(events=None, signal=LOW) -> RunRecord:
    events = events or tokens()
    local = LocalStats("transformers", "smollm2-135m", 9, len(events), 0.2, 10.0, 1.3, stopped_early=True,
                       finish_reason="early_handoff")
    decision = Decision("cloud", True, True, None, (signal,), "cascade", 0.36, "during", reason=signal.name)
    return RunRecord("hybrid", decision, local,
                     CloudStats("gpt-4o-mini", "api.openai.com", 9, 5, 0.4, 1.1, None), "2026-01-01T00:00:00Z",
                     tokens=events)


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == SVG + "svg"
    return root


def by_class(root: ET.Element, name: str) -> list[ET.Element]:
    return [e for e in root.iter() if e.get("class") == name]


def test_bundle_timeline_has_probabilities_times_and_the_watched_series_but_no_text():
    secret_words = ["<script>", "sk-proj-Zx8vQ2mN4bT7yR1wK9pL3", "Paris"] + [f"w{i}" for i in range(9)]
    bundle = provenance_bundle(handoff_record(tokens(secret_words)), window=4)
    tl = bundle["timeline"]
    assert tl["probabilities"] == [round(p, 3) for p in PROBS]
    assert tl["elapsed_s"][0] == 0.2 and tl["elapsed_s"][1] == pytest.approx(0.3)  # TTFT, then 1 / 10 tok/s
    watched = tl["watched"]
    assert (watched["signal"], watched["threshold"], watched["window"]) == ("low_confidence", 0.5, 4)
    assert watched["series"][-1] == pytest.approx(sum(PROBS[-4:]) / 4, abs=1e-4)
    assert watched["series"][0] == 0.95  # the live monitor averages what it has before the window fills
    assert tl["stop"] == {"index": len(PROBS) - 1, "reason": "early_handoff", "early": True}
    assert not any(word in str(bundle) for word in secret_words), "the bundle never holds token text"


def test_watched_series_follows_the_deciding_signal():
    entropy = Signal("high_entropy", "during", 3.4, 3.0, True, "Mean token entropy was 3.40 nats, above 3.00.")
    watched = provenance_bundle(handoff_record(signal=entropy))["timeline"]["watched"]
    assert watched["signal"] == "high_entropy" and watched["unit"] == "nats" and watched["threshold"] == 3.0
    last_window = [0.5 + i / 4 for i in range(len(PROBS) - 8, len(PROBS))]  # the entropies tokens() carries
    assert watched["series"][-1] == pytest.approx(sum(last_window) / 8)


def test_svg_draws_series_threshold_stop_and_cloud_span_with_a_hover_per_token():
    root = parse(timeline_svg(provenance_bundle(handoff_record())))
    [series] = by_class(root, "hm-tl-series")
    assert series.tag == SVG + "path" and series.get("d").count("L") == len(PROBS) - 1
    [threshold] = by_class(root, "hm-tl-threshold")
    assert threshold.get("y1") == threshold.get("y2") and threshold.get("stroke-dasharray")
    points = by_class(root, "hm-tl-point")
    assert len(points) == len(PROBS)
    assert points[6].find(SVG + "title").text.startswith("token 7 · 0.80 s · p = 0.400")
    [stop] = by_class(root, "hm-tl-stop")
    assert stop.get("x1") == points[-1].get("cx"), "the stop marker sits on the last local token"
    # the same numbers as labextension/test/timeline.test.ts: both drawings share one geometry
    assert (threshold.get("y1"), stop.get("x1")) == ("79.0", "389.2")
    assert "stopped early → handoff" in "".join(root.itertext())
    assert by_class(root, "hm-tl-cloudWait") and by_class(root, "hm-tl-cloudSpan")
    assert "TTFT 0.40 s" in "".join(root.itertext())
    assert "seconds since the local call, estimated" in "".join(root.itertext()), "estimated times say so"


def test_local_run_without_signals_has_no_threshold_and_backend_without_logprobs_says_so():
    record = handoff_record()
    record.decision, record.cloud = Decision("local", False, False, None, (), "local-only"), None
    root = parse(timeline_svg(provenance_bundle(record)))
    assert by_class(root, "hm-tl-series") and not by_class(root, "hm-tl-threshold")
    assert "rolling mean token probability over 8 tokens" in "".join(root.itertext())
    assert "low_confidence" not in "".join(root.itertext()), "nothing decided a local run"
    assert not by_class(root, "hm-tl-cloudSpan")
    record.tokens = [TokenEvent(f"w{i}", i) for i in range(3)]
    root = parse(timeline_svg(provenance_bundle(record)))
    assert "no token probabilities from this backend" in "".join(root.itertext())
    record.tokens = []
    assert provenance_bundle(record)["timeline"] is None and timeline_svg(provenance_bundle(record)) == ""


def test_a_learned_decision_plots_its_estimates_where_it_was_asked_against_its_cut():
    record = handoff_record()
    record.decision = Decision("cloud", True, True, None, (LOW,), "router", 0.59, "during", reason="router",
                               contributions=(("answer_features", -1.2),), estimates=((2, 0.62), (4, 0.41)), cut=0.57)
    watched = provenance_bundle(record)["timeline"]["watched"]
    assert (watched["signal"], watched["threshold"], watched["window"], watched["probability"]) == ("router", 0.57,
                                                                                                     None, True)
    assert watched["series"] == [None, None, 0.62, None, 0.41] + [None] * (len(PROBS) - 5)
    root = parse(timeline_svg(provenance_bundle(record)))
    assert len(by_class(root, "hm-tl-point")) == 2 and len(by_class(root, "hm-tl-token")) == len(PROBS)
    [series] = by_class(root, "hm-tl-series")
    assert series.get("d").count("L") == 1
    text = "".join(root.itertext())
    assert "router: estimated chance the local answer is right" in text and "threshold 0.57" in text
    assert "over None" not in text and "low_confidence" not in text
    assert watched["early_threshold"] is None and not by_class(root, "hm-tl-earlyThreshold")  # no margin: no bar
    record.decision = replace(record.decision, early_cut=0.33)  # the early margin's mid-answer bar
    watched = provenance_bundle(record)["timeline"]["watched"]
    assert watched["early_threshold"] == 0.33
    root = parse(timeline_svg(provenance_bundle(record)))
    [bar] = by_class(root, "hm-tl-earlyThreshold")
    [cut] = by_class(root, "hm-tl-threshold")
    # the same numbers as labextension/test/timeline.test.ts: the bar sits lower than the cut on the 0..1 axis
    assert bar.get("y1") == bar.get("y2") == "95.0" and float(bar.get("y1")) > float(cut.get("y1"))
    assert "mid-answer stop below 0.33" in "".join(root.itertext())


def test_html_card_embeds_the_svg_and_escapes_model_text():
    record = handoff_record()
    record.local_text = "<img src=x onerror=alert(1)>"
    page = card_html(record)
    assert "<svg" in page and "hm-tl-threshold" in page and "<img" not in page


@pytest.mark.slow
def test_early_handoff_cell_saves_the_timeline_and_draws_it(shell, cloud_magics):
    with capture_output() as captured:
        shell.run_cell_magic("hybrid", "--max-tokens 24 --threshold 0.9",
                             "Write a limerick about the prime number 7919.")
    [card] = [o.data for o in captured.outputs if MIME_TYPE in o.data]
    bundle = card[MIME_TYPE]
    assert bundle["handoff"]["stage"] == "during" and bundle["local"]["stopped_early"] is True
    tl, watched = bundle["timeline"], bundle["timeline"]["watched"]
    n = bundle["local"]["completion_tokens"]
    assert len(tl["probabilities"]) == len(tl["elapsed_s"]) == len(watched["series"]) == n
    # the default router decided: the timeline plots its estimates where the driver asked it, against its cut
    assert bundle["handoff"]["reason"] == DEFAULT_POLICY and watched["signal"] == DEFAULT_POLICY
    assert watched["threshold"] == 0.9 and watched["series"][-1] < 0.9, "handed off below the cut, at the stop"
    bar = watched["early_threshold"]  # mid-answer it stops only below the early margin's bar
    assert bar == pytest.approx(POLICIES[DEFAULT_POLICY].early_cut(0.9), abs=1e-3) and watched["series"][-1] < bar
    asked = [v for v in watched["series"] if v is not None]
    assert all(v >= bar for v in asked[:-1]), "every earlier ask kept the cell local"
    assert tl["stop"]["reason"] == "early_handoff" and tl["stop"]["index"] == n - 1
    assert all(0.0 <= p <= 1.0 for p in tl["probabilities"])
    root = parse(card["text/html"][card["text/html"].index("<svg"):card["text/html"].index("</svg>") + 6])
    assert by_class(root, "hm-tl-series") and by_class(root, "hm-tl-threshold") and by_class(root, "hm-tl-earlyThreshold")
    assert len(by_class(root, "hm-tl-point")) == len(asked) and len(by_class(root, "hm-tl-token")) == n
    assert f"{DEFAULT_POLICY}: estimated chance the local answer is right" in "".join(root.itertext())
    assert by_class(root, "hm-tl-cloudSpan")


def recorded(probs: list[float], item_id: str, cloud: dict | None):
    from hybrid_magic.experiments import replay

    tokens = [{"text": f"t{i}", "token_id": i + 10, "logprob": math.log(p), "entropy": 1.0, "top": [],
               "finish_reason": None, "t": 0.05 + 0.07 * i} for i, p in enumerate(probs)]
    tokens.append({"text": "", "token_id": None, "logprob": None, "entropy": None, "top": [], "finish_reason": "stop",
                   "t": 0.07 * len(probs)})
    local = {"text": "answer", "tokens": tokens, "finish_reason": "stop", "prompt_tokens": 10, "context_length": 8192,
             "timings": {"seconds": 0.07 * len(probs), "completion_tokens": len(probs)}}
    item = {"id": item_id, "prompt": item_id, "reference": "x"}
    return replay.Recorded(item, local, cloud, 0.0, 1.0, max_tokens=24)


def test_plot_timelines_draws_the_items_the_policy_hands_off():
    import matplotlib

    matplotlib.use("Agg")
    from conftest import ARTIFACTS

    from hybrid_magic.experiments.plots import plot_timelines, timeline_panels
    from hybrid_magic.router.signals import Thresholds

    cloud = {"text": "x", "seconds": 1.2, "ttft_s": 0.3, "cost_usd": 1e-4}
    recs = [recorded([0.95] * 12, "sure", cloud), recorded(PROBS, "unsure", cloud),
            recorded([0.9, 0.8, 0.3, 0.2, 0.25, 0.2, 0.1], "falls", cloud)]
    th = Thresholds(stream_confidence=0.5)  # "unsure" falls below 0.5 on its 11th token
    panels = timeline_panels(recs, "cascade", th, n=6)
    assert [p.title.split(" · ")[0] for p in panels] == ["unsure", "falls"], "only handed-off items"
    assert panels[0].title == "unsure · low_confidence (during)"
    assert panels[0].early and panels[0].stop_s == pytest.approx(0.05 + 0.07 * 10), "stops at the 11th token"
    fig = plot_timelines(panels, cols=2)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 2 and axes[0].get_xlabel() == "seconds since the local call"
    assert axes[0].get_ylabel() == "probability (0–1)"
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert {"threshold 0.50", "cloud: waiting (TTFT)", "cloud: streaming", "token probability"} <= set(labels)
    out = ARTIFACTS / "plots"
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "timelines.png", dpi=120)
    oracle = plot_timelines(timeline_panels([recorded(PROBS, "unsure", None)], "cascade", th, 6),
                            oracle=True)
    title = oracle.get_suptitle()
    assert "upper bound (oracle cloud)" in title and "no cloud timing" in title
