"""split_reasoning: table tests on complete and streamed (prefix) text."""
from __future__ import annotations

import pytest

from hybrid_magic.reasoning import has_reasoning, split_reasoning

HARMONY = ("<|channel|>analysis<|message|>User asks 2+2. Easy.<|end|>"
           "<|start|>assistant<|channel|>final<|message|>4<|return|>")


@pytest.mark.parametrize("text, reasoning, answer", [
    ("Paris is the capital.", "", "Paris is the capital."),
    ("  keeps  spacing \n", "", "  keeps  spacing \n"),  # no marker: unchanged
    ("a < b and c > d", "", "a < b and c > d"),
    ("<think>2+2 is 4</think>\n\nThe answer is 4.", "2+2 is 4", "The answer is 4."),
    ("<think>\n</think>\n\nHi!", "", "Hi!"),  # Qwen3 with thinking off: empty block
    ("Sure. <think>one</think> A <think>two</think> B", "one\n\ntwo", "Sure.  A  B"),
    ("template opened it</think>Answer", "template opened it", "Answer"),
    ("<think>cut off by max_tokens", "cut off by max_tokens", ""),
    (HARMONY, "User asks 2+2. Easy.", "4"),
    ("<|channel|>analysis<|message|>Need a tool.<|end|><|start|>assistant<|channel|>commentary "
     "to=functions.search <|constrain|>json<|message|>{\"q\": \"x\"}<|call|>",
     "Need a tool.\n\n{\"q\": \"x\"}", ""),
    ("<|start|>assistant<|channel|>final<|message|>Only the answer.<|return|>", "", "Only the answer."),
])
def test_complete_text(text, reasoning, answer):
    assert split_reasoning(text) == (reasoning, answer)


@pytest.mark.parametrize("prefix, reasoning, answer", [
    ("<thi", "", ""),  # half a marker is held back, not shown as answer
    ("Hello <|chan", "", "Hello "),
    ("<think>Let me", "Let me", ""),
    ("<think>done</think>Ans", "done", "Ans"),
    ("<think>done</thi", "done", ""),
    ("<|channel|>analysis<|mess", "", ""),
    ("<|channel|>analysis<|message|>Thinking so", "Thinking so", ""),
    ("<|channel|>analysis<|message|>T<|end|><|start|>assistant<|channel|>fin", "T", ""),
    ("<|channel|>analysis<|message|>T<|end|><|start|>assistant<|channel|>final<|message|>Fo", "T", "Fo"),
    ("Plain streaming text", "", "Plain streaming text"),
])
def test_streaming_prefixes(prefix, reasoning, answer):
    assert split_reasoning(prefix, streaming=True) == (reasoning, answer)


def test_every_prefix_of_a_stream_never_leaks_reasoning_into_the_answer():
    for text in (HARMONY, "<think>secret plan</think>Final words."):
        final_answer = split_reasoning(text)[1]
        for end in range(len(text) + 1):
            _, answer = split_reasoning(text[:end], streaming=True)
            assert final_answer.startswith(answer), (text[:end], answer)
            assert "plan" not in answer and "Easy" not in answer


def test_has_reasoning():
    assert has_reasoning(HARMONY) and not has_reasoning("4")
