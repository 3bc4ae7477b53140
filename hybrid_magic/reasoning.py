"""Separate a reasoning model's thinking from its answer.

Two shapes are understood:

- `<think>...</think>` blocks (Qwen3, DeepSeek-R1, SmolLM3); a lone `</think>`
  means the chat template opened the block in the prompt, so everything before
  it is reasoning. An unclosed `<think>` runs to the end of the text.
- gpt-oss "harmony" channels: `<|channel|>analysis<|message|>...<|end|>` then
  `<|start|>assistant<|channel|>final<|message|>...<|return|>`. Only the
  `final` channel is the answer; analysis and commentary are reasoning.

`split_reasoning` works on complete text and, with `streaming=True`, on a
prefix of a stream: a marker cut in half at the end is held back instead of
flashing into the answer. Text without any marker comes back unchanged.
"""
from __future__ import annotations

import re

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
CHANNEL = "<|channel|>"
_HARMONY_HEADER = re.compile(r"<\|channel\|>(?P<channel>[A-Za-z_]+)[^<]*(?:<\|constrain\|>[^<]*)?<\|message\|>")
_HARMONY_END = re.compile(r"<\|(?:end|return|call|start|channel)\|>")
_MARKERS = (THINK_OPEN, THINK_CLOSE, CHANNEL, "<|message|>", "<|start|>", "<|end|>", "<|return|>")
ANSWER_CHANNEL = "final"


def split_reasoning(text: str, *, streaming: bool = False) -> tuple[str, str]:
    """(reasoning, answer). Reasoning parts are joined by blank lines and stripped."""
    if streaming:
        text = _hold_back_partial_marker(text)
    if CHANNEL in text:
        return _split_harmony(text)
    if THINK_OPEN in text or THINK_CLOSE in text:
        return _split_think(text)
    return "", text


def has_reasoning(text: str) -> bool:
    return bool(split_reasoning(text)[0])


def _split_think(text: str) -> tuple[str, str]:
    thoughts: list[str] = []
    head, closed, rest = text.partition(THINK_CLOSE)
    if closed and THINK_OPEN not in head:  # the template opened the block in the prompt
        thoughts.append(head)
        text = rest
    answer: list[str] = []
    while THINK_OPEN in text:
        before, _, after = text.partition(THINK_OPEN)
        answer.append(before)
        thought, closed, text = after.partition(THINK_CLOSE)
        thoughts.append(thought)
        if not closed:  # still thinking (or cut off by max_tokens)
            text = ""
    answer.append(text)
    return _join(thoughts), "".join(answer).strip()


def _split_harmony(text: str) -> tuple[str, str]:
    """Only text inside a channel counts; a header still being written shows nothing yet."""
    thoughts, answer = [], []
    for header in _HARMONY_HEADER.finditer(text):
        body = text[header.end():]
        end = _HARMONY_END.search(body)
        body = body[:end.start()] if end else body
        (answer if header["channel"] == ANSWER_CHANNEL else thoughts).append(body)
    return _join(thoughts), "".join(answer).strip()


def _hold_back_partial_marker(text: str) -> str:
    """Drop a trailing piece that could be the start of a marker (shown once the next token says)."""
    for size in range(min(len(text), max(map(len, _MARKERS)) - 1), 0, -1):
        tail = text[-size:]
        if any(marker.startswith(tail) and marker != tail for marker in _MARKERS):
            return text[:-size]
    return text


def _join(parts: list[str]) -> str:
    return "\n\n".join(p.strip() for p in parts if p.strip())
