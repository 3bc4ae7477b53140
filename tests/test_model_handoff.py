"""Model-initiated handoff: parsing tables on crafted outputs, the monitor, the offer, and the cascade."""
from __future__ import annotations

import json

import pytest

from hybrid_magic import model_handoff as mh
from hybrid_magic.router import signals as sig
from hybrid_magic.router.policy import decide
from hybrid_magic.types import TokenEvent

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


@pytest.mark.parametrize("prefix, complete, at_the_end", [
    ("HANDOFF: needs the", False, True),  # still being written; at the end of the stream it is all there is
    ("HANDOFF: needs the web\n", True, True),
    ("HANDOFF: " + "x" * mh.MAX_REASON_CHARS, True, True),  # long enough to quote
    ('<tool_call>{"name": "handoff", "arguments": {"reason": "ne', False, None),  # cut off: no request
    (QWEN[:QWEN.index("}}") + 2], True, True),  # the JSON closed; the closing tag may still come
])
def test_partial_output(prefix, complete, at_the_end):
    ask = mh.find_request(prefix, final=False)
    assert ask is not None and ask.complete is complete
    final = mh.find_request(prefix, final=True)
    assert (final.complete if final is not None else None) is at_the_end


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


def test_offer_adds_the_instruction_in_line_form_and_the_tool_in_tool_form():
    user = [{"role": "user", "content": "Hi"}]
    line = mh.Offer("line", "ASK IF UNSURE")
    assert line.apply(user) == ([{"role": "system", "content": "ASK IF UNSURE"}] + user, None)
    with_system = [{"role": "system", "content": "Be brief."}] + user
    assert line.apply(with_system)[0][0]["content"] == "Be brief.\n\nASK IF UNSURE"
    assert mh.Offer("tool").apply(user) == (user, [mh.HANDOFF_TOOL]) and mh.NO_OFFER.apply(user) == (user, None)


class FakeBackend:
    def __init__(self, tools: bool):
        self.tools = tools

    def supports_tools(self) -> bool:
        return self.tools


@pytest.mark.parametrize("wanted, policy, tools, form", [
    (True, "cascade", False, "line"),
    (True, "cascade", True, "tool"),
    (False, "cascade", True, None),  # --no-model-handoff
    (True, "always-local", False, None),
])
def test_offer_only_when_a_handoff_could_happen(wanted, policy, tools, form):
    offer = mh.offer_for(wanted, policy, FakeBackend(tools), "CUSTOM")
    assert offer.form == form
    if form == "line":
        assert offer.instruction == "CUSTOM"


@pytest.mark.parametrize("before", [[sig.private_mode(True)],
                                    [sig.privacy("password=hunter2", detect_pii=False, allow_sensitive=False)]])
def test_nothing_is_offered_when_a_guard_forbids_any_handoff(before):
    from hybrid_magic.cascade import PromptFacts, prepare

    def facts(tokens: int) -> PromptFacts:
        private = before[0].name == "private"
        return PromptFacts("password=hunter2" if not private else "Hi", tokens, 8, 2048, private=private)

    counted = []
    prepared = prepare([{"role": "user", "content": "Hi"}], mh.Offer("line"),
                       lambda messages, tools: counted.append(len(messages)) or 10 * len(messages), facts)
    assert prepared.offer.form is None and prepared.messages == [{"role": "user", "content": "Hi"}]
    # the offer, the prompt alone (prompt_length), then without the offer: what is sent is what is counted
    assert counted == [2, 1, 1] and prepared.facts.prompt_tokens == 10


def test_prompt_length_and_form_read_the_users_prompt_alone_whatever_else_is_sent():
    """The default router was fitted on prompts sent alone: a system prompt, a chat's history or the handoff
    offer must not move its prompt_length or question-form terms; the context check still reads everything sent."""
    from hybrid_magic.cascade import PromptFacts, prepare
    from hybrid_magic.types import chat_messages

    def count(messages, tools):  # a pure stand-in for the chat template: 10 tokens a message, 5 a tool
        return 10 * len(messages) + 5 * len(tools or ())

    def facts(tokens: int) -> PromptFacts:
        return PromptFacts("", tokens, 8, 60)

    history = [{"role": "user", "content": "How many legs, two or four?"}, {"role": "assistant", "content": "Four"}]
    alone = prepare(chat_messages("What is 2 + 2?"), mh.Offer(None), count, facts)
    crowded = prepare(chat_messages("What is 2 + 2?", "Say how much or how little.", history), mh.Offer("line"),
                      count, facts)
    forms = [{s.name: s.value for s in p.before if s.name in sig.QUESTION_FORMS} for p in (alone, crowded)]
    assert forms[0] == forms[1] == {"asks_how_many": 0.0, "offers_choice": 0.0, "wh_question": 1.0}
    short, long = (next(s for s in p.before if s.name == "prompt_length") for p in (alone, crowded))
    assert short.value == long.value == 10.0
    assert crowded.facts.prompt_tokens == 40 and "40 tokens sent in all" in long.message
    overflow = next(s for s in crowded.before if s.name == "context_overflow")
    assert overflow.value == 40 + 8 and not next(s for s in alone.before if s.name == "context_overflow").triggered


def test_tool_offer_reaches_a_real_chat_template_without_swapping_the_tokenizer(model_dir):
    from transformers import AutoTokenizer

    from hybrid_magic.backends._text import chat_prompt_ids

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.chat_template = (
        "{% if tools %}<|im_start|>system\nTools: {{ tools | tojson }}<|im_end|>\n{% endif %}"
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
        "<|im_start|>assistant\n")
    messages = [{"role": "user", "content": "Hi"}]
    offered = tokenizer.decode(chat_prompt_ids(tokenizer, messages, [mh.HANDOFF_TOOL]))
    plain = tokenizer.decode(chat_prompt_ids(tokenizer, messages))
    assert '"name": "handoff"' in offered and mh.TOOL_DESCRIPTION[:40] in offered
    assert "Tools" not in plain and len(offered) > len(plain)


def test_the_last_token_reaches_the_monitor():
    monitor = mh.HandoffMonitor(sig.DuringMonitor(sig.Thresholds(), 64), detect_pii=True)
    events = tokens("HAND", "OFF", ":", " last") + [TokenEvent(" token", token_id=9, finish_reason="stop")]
    fired = [monitor.observe(e, 0.1) for e in events]
    assert fired[:4] == [None] * 4 and fired[4].name == "model_requested", "unterminated, but nothing more comes"
    assert monitor.signals()[-1].triggered and '"last token"' in monitor.signals()[-1].message


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
    bundle = hybrid_bundle(shell, "--chat --threshold 0 --max-tokens 14 --model-handoff --with-draft --out result")
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


@pytest.mark.parametrize("setting, flag", [
    (False, ""),  # off by default (HybridMagics.model_handoff)
    (True, "--no-model-handoff"),  # the cell's flag overrides the setting
])
def test_model_handoff_off_is_not_offered_nor_honoured(shell, magics, cloud_proxy, setting, flag):
    magics.model_handoff = setting
    magics.chat_history = list(WEATHER_TURNS)
    bundle = hybrid_bundle(shell, f"--chat --threshold 0 --max-tokens 14 {flag} --out result")
    assert "model_requested" not in [s["name"] for s in bundle["signals"]]
    assert shell.user_ns["result"].record.local_text.startswith("HANDOFF:"), "written, but not honoured"
    assert bundle["route"] == "local" and cloud_proxy.request_count == 0


def test_model_handoff_setting_on_offers_it_to_every_cell(shell, magics, cloud_proxy):
    magics.model_handoff = True
    magics.chat_history = list(WEATHER_TURNS)
    bundle = hybrid_bundle(shell, "--chat --threshold 0 --max-tokens 14 --out result")
    assert next(s for s in bundle["signals"] if s["name"] == "model_requested")["triggered"]
    assert bundle["route"] == "cloud"
