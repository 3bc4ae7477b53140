"""Model-initiated handoff: parsing tables on crafted outputs, the monitor, the offer, and the cascade."""
from __future__ import annotations

import json

import pytest

from hybrid_magic import model_handoff as mh
from hybrid_magic.router import signals as sig
from hybrid_magic.router.policy import decide
from hybrid_magic.types import Request, Signal, TokenEvent

QWEN = '<tool_call>\n{"name": "handoff", "arguments": {"reason": "needs live stock prices"}}\n</tool_call>'
SMOL = '<tool_call>[{"name": "handoff", "arguments": {"reason": "I lack 2024 data"}}]</tool_call>'
OPENAI_SHAPE = json.dumps([{"type": "function", "function": {"name": "handoff",
                                                               "arguments": '{"reason": "too hard"}'}}])


@pytest.mark.parametrize("text, form, reason", [
    (QWEN, "tool", "needs live stock prices"),
    (SMOL, "tool", "I lack 2024 data"),
    ("Let me check.\n" + QWEN, "tool", "needs live stock prices"),
    ('{"name": "handoff", "parameters": {"reason": "llama style"}}', "tool", "llama style"),
    ('[TOOL_CALLS][{"name": "handoff", "arguments": {"reason": "mistral style"}}]', "tool", "mistral style"),
    ('<|python_tag|>{"name": "handoff", "arguments": "plain string"}', "tool", "plain string"),
    (OPENAI_SHAPE, "tool", "too hard"),
    ('<tool_call>{"name": "handoff", "arguments": {}}</tool_call>', "tool", ""),
    ("HANDOFF: I don't know recent events", "line", "I don't know recent events"),
    ("HANDOFF:needs a calculator\nextra", "line", "needs a calculator"),
    ("I think so.\n**HANDOFF:** beyond my knowledge", "line", "beyond my knowledge"),
    ("  HANDOFF : spaced out", "line", "spaced out"),
])
def test_requests_are_found(text, form, reason):
    ask = mh.find_request(text)
    assert ask is not None and (ask.form, ask.reason, ask.complete) == (form, reason, True)


@pytest.mark.parametrize("text", [
    "The capital of France is Paris.",
    "The handoff between teams went well.",  # the word, not the request
    "We discussed the HANDOFF: it was fine.",  # not at the start of a line
    '<tool_call>{"name": "search", "arguments": {"q": "x"}}</tool_call>',  # another tool
    '{"city": "Paris", "country": "France"}',  # a JSON answer
    '<tool_call>{"name": "handoff", "argum',  # cut off, and nothing more will come
    "",
])
def test_ordinary_answers_are_not_requests(text):
    assert mh.find_request(text) is None


@pytest.mark.parametrize("prefix, complete", [
    ("HANDOFF: needs the", False),  # the line is still being written
    ("HANDOFF: needs the web\n", True),
    ("HANDOFF: " + "x" * mh.MAX_REASON_CHARS, True),  # long enough to quote
    ('<tool_call>{"name": "handoff", "arguments": {"reason": "ne', False),
    (QWEN[:QWEN.index("}}") + 2], True),  # the JSON closed; the closing tag may still come
])
def test_partial_output(prefix, complete):
    ask = mh.find_request(prefix, final=False)
    assert ask is not None and ask.complete is complete
    assert mh.find_request(prefix, final=True) is None or mh.find_request(prefix).complete


def test_reason_is_one_short_redacted_line():
    raw = "needs\nthe  api with key sk-proj-ABCDEFGHIJKLMNOPQRSTUVWXYZ123456 " + "and more " * 30
    cleaned = mh.clean_reason(raw)
    assert "\n" not in cleaned and len(cleaned) <= mh.MAX_REASON_CHARS and cleaned.endswith("…")
    assert "sk-proj" not in cleaned and "[REDACTED:openai_key]" in cleaned
    assert mh.clean_reason('  "" ') == "no reason given"
    assert "a@b.example" not in mh.clean_reason("mail a@b.example for it")


def test_signal_quotes_the_reason_and_requests_a_handoff():
    signal = mh.model_requested(mh.find_request("HANDOFF: needs  live\tdata"))
    assert (signal.name, signal.stage, signal.triggered, signal.blocks_handoff) == ("model_requested", "during", True, False)
    assert signal.message == 'The local model asked for a handoff: "needs live data".'
    decision = decide("cascade", [signal])
    assert decision.route == "cloud" and decision.stage == "during" and decision.score == 1.0
    private = sig.private_mode(True)
    blocked = decide("cascade", [signal, private])
    assert blocked.route == "local" and blocked.blocked_by == private.name
    quiet = mh.model_requested(None)
    assert not quiet.triggered and decide("cascade", [quiet]).route == "local"


@pytest.mark.parametrize("text, draft", [
    ("Paris.\nHANDOFF: unsure", "Paris."),
    ("HANDOFF: unsure", ""),
    ("Partial answer " + QWEN, "Partial answer"),
    ("Just an answer", "Just an answer"),
])
def test_strip_request_leaves_only_the_answer(text, draft):
    assert mh.strip_request(text) == draft


def tokens(*texts: str) -> list[TokenEvent]:
    return [TokenEvent(text=t, token_id=i, logprob=-0.01, entropy=0.1) for i, t in enumerate(texts)]


def test_monitor_fires_once_the_line_is_complete_and_keeps_inner_signals():
    monitor = mh.HandoffMonitor(sig.DuringMonitor(sig.Thresholds(), 64), detect_pii=True)
    fired = [monitor.observe(e, 0.1) for e in tokens("HAND", "OFF", ":", " no", " idea", "\n", "more")]
    assert [f is not None for f in fired] == [False] * 5 + [True, False]
    assert fired[5].name == "model_requested" and '"no idea"' in fired[5].message
    names = [s.name for s in monitor.signals()]
    assert names == ["low_confidence", "high_entropy", "repetition", "slow", "model_requested"]


def test_offer_adds_the_instruction_only_in_line_form():
    user = [{"role": "user", "content": "Hi"}]
    line = mh.Offer("line", "ASK IF UNSURE")
    assert line.messages(user) == [{"role": "system", "content": "ASK IF UNSURE"}] + user
    with_system = [{"role": "system", "content": "Be brief."}] + user
    assert line.messages(with_system)[0]["content"] == "Be brief.\n\nASK IF UNSURE"
    assert mh.Offer("tool").messages(user) == user and mh.NO_OFFER.messages(user) == user


class FakeBackend:
    def __init__(self, tools: bool):
        self.tools, self.tokenizer = tools, object()

    def supports_tools(self) -> bool:
        return self.tools


@pytest.mark.parametrize("options, before, tools, form", [
    ({}, [], False, "line"),
    ({}, [], True, "tool"),
    ({"model_handoff": False}, [], True, None),  # --no-model-handoff
    ({"policy": "always-local"}, [], False, None),
    ({}, [sig.private_mode(True)], False, None),  # nothing could leave: do not ask
    ({}, [sig.privacy("password=hunter2", detect_pii=False, allow_sensitive=False)], False, None),
])
def test_offer_only_when_a_handoff_could_happen(options, before, tools, form):
    class Settings:
        model_handoff_instruction = "CUSTOM"

    request = Request(magic="hybrid", prompt="Hi", model="m", **options)
    offer = mh.offer_for(request, FakeBackend(tools), before, Settings())
    assert offer.form == form
    if form == "line":
        assert offer.instruction == "CUSTOM"


def test_tool_offer_reaches_a_real_chat_template(model_dir):
    from transformers import AutoTokenizer

    class Backend:
        tokenizer = AutoTokenizer.from_pretrained(model_dir)

    backend = Backend()
    backend.tokenizer.chat_template = (
        "{% if tools %}<|im_start|>system\nTools: {{ tools | tojson }}<|im_end|>\n{% endif %}"
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
        "<|im_start|>assistant\n")
    messages = [{"role": "user", "content": "Hi"}]
    original = backend.tokenizer
    with mh.Offer("tool").offered(backend):
        rendered = backend.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        assert backend.tokenizer.decode(backend.tokenizer.encode("Hi")) == "Hi"  # everything else passes through
    assert '"name": "handoff"' in rendered and mh.TOOL_DESCRIPTION[:40] in rendered
    assert backend.tokenizer is original
    assert "Tools" not in original.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def test_settle_reads_the_last_token_too():
    from hybrid_magic.engine import LocalOutcome

    outcome = LocalOutcome(text="HANDOFF: last token", during=[Signal("low_confidence", "during", 0.9, 0.5, False, "")])
    settled = mh.Offer("line").settle(outcome)
    assert [s.name for s in settled.during] == ["low_confidence", "model_requested"]
    assert settled.during[-1].triggered


# ---- the real cascade: SmolLM2 asks (taught by two earlier turns), the cell is handed off ----------

WEATHER_TURNS = [
    {"role": "user", "content": "What is the weather in Paris right now?"},
    {"role": "assistant", "content": "HANDOFF: I have no live weather data"},
    {"role": "user", "content": "What is the weather in London right now?"},
    {"role": "assistant", "content": "HANDOFF: I have no live weather data"},
]
ROME = "What is the weather in Rome right now?"


@pytest.fixture
def magics(cloud_magics):
    return cloud_magics


def hybrid_bundle(shell, line: str) -> dict:
    from IPython.utils.capture import capture_output

    from hybrid_magic.display.mime import MIME_TYPE

    with capture_output() as captured:
        shell.run_cell_magic("hybrid", line, ROME)
    [bundle] = [o.data[MIME_TYPE] for o in captured.outputs if MIME_TYPE in o.data]
    return bundle


def test_the_model_asks_and_the_cell_is_handed_off(shell, magics, cloud_proxy):
    magics.chat_history = list(WEATHER_TURNS)
    bundle = hybrid_bundle(shell, "--chat --threshold 0 --max-tokens 14 --with-draft --out result")
    asked = next(s for s in bundle["signals"] if s["name"] == "model_requested")
    assert asked["triggered"] and asked["stage"] == "during"
    assert asked["message"] == 'The local model asked for a handoff: "I have no live weather data".'
    assert bundle["route"] == "cloud" and bundle["handoff"]["stage"] == "during"
    assert bundle["signals"][0]["name"] == "model_requested", "the model's request decided the handoff"
    [sent] = [r["body"] for r in cloud_proxy.requests if r["path"].endswith("/chat/completions")]
    contents = [m["content"] for m in sent["messages"]]
    assert contents[-1] == ROME and not any("HANDOFF: <" in c for c in contents), "the instruction stays local"
    assert not any("Draft:" in c for c in contents), "a handoff request is no draft"
    assert shell.user_ns["result"].record.local_text.startswith("HANDOFF:")


def test_no_model_handoff_turns_it_off(shell, magics, cloud_proxy):
    magics.chat_history = list(WEATHER_TURNS)
    bundle = hybrid_bundle(shell, "--chat --threshold 0 --max-tokens 14 --no-model-handoff --out result")
    assert "model_requested" not in [s["name"] for s in bundle["signals"]]
    assert shell.user_ns["result"].record.local_text.startswith("HANDOFF:"), "written, but not honoured"
    assert bundle["route"] == "local" and cloud_proxy.request_count == 0
