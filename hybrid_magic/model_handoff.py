"""Model-initiated handoff: the local model itself may ask for the cloud.

A model whose chat template renders tools is offered a `handoff` tool; any
other model gets a short system instruction asking for a line
`HANDOFF: <reason>`. The stream is watched for either form; when the model
asks, the `model_requested` signal (stage "during") triggers and the cascade
hands the cell off, quoting the model's reason (one line, redacted, short).
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

from .router.privacy import redact
from .types import Message, Signal, TokenEvent

SIGNAL_NAME = "model_requested"
TOOL_NAME = "handoff"
MAX_REASON_CHARS = 120
TOOL_DESCRIPTION = ("Hand this request to a larger model. Call it when the task needs knowledge, capability "
                    "or context you lack; give a short reason.")
HANDOFF_TOOL = {"type": "function", "function": {
    "name": TOOL_NAME, "description": TOOL_DESCRIPTION,
    "parameters": {"type": "object", "required": ["reason"],
                   "properties": {"reason": {"type": "string", "description": "Why, in a few words."}}}}}
DEFAULT_INSTRUCTION = ("If you lack the knowledge, capability or context to answer well, reply with only "
                       "one line: HANDOFF: <short reason>. Otherwise answer normally.")

_LINE = re.compile(r"^[ \t>*_`#-]*HANDOFF[*_`]*[ \t]*:[*_`]*[ \t]*(?P<reason>[^\n]*)(?P<end>\n)?", re.MULTILINE)
_TOOL_OPENERS = ("<tool_call>", "[TOOL_CALLS]", "<|python_tag|>")


@dataclass(frozen=True)
class HandoffAsk:
    """The model asked: in which form, with which raw reason, and whether the request is finished."""

    form: str  # "tool" | "line"
    reason: str
    complete: bool


# ---- parsing -------------------------------------------------------------------------

def find_request(text: str, *, final: bool = True) -> HandoffAsk | None:
    """The model's handoff request in (possibly partial) output, or None.

    Partial text: a request is complete once its line ends, its tool-call JSON
    closes, or its reason is long enough to quote. `final=True` means nothing
    more will come, so an unterminated line is complete too.
    """
    return _tool_request(text, final) or _line_request(text, final)


def _line_request(text: str, final: bool) -> HandoffAsk | None:
    found = _LINE.search(text)
    if found is None:
        return None
    reason = found["reason"]
    complete = final or bool(found["end"]) or len(reason) >= MAX_REASON_CHARS
    return HandoffAsk("line", reason, complete)


def _tool_request(text: str, final: bool) -> HandoffAsk | None:
    for start in _tool_starts(text):
        try:
            payload, _ = json.JSONDecoder().raw_decode(text[start:].lstrip())
        except json.JSONDecodeError:
            if final or TOOL_NAME not in text[start:]:
                continue
            return HandoffAsk("tool", "", False)  # the call is still being written
        reason = _handoff_reason(payload)
        if reason is not None:
            return HandoffAsk("tool", reason, True)
    return None


def _tool_starts(text: str) -> Iterator[int]:
    """Where a tool-call JSON may begin: after an opener tag, or a bare JSON answer."""
    for opener in _TOOL_OPENERS:
        index = text.find(opener)
        while index >= 0:
            yield index + len(opener)
            index = text.find(opener, index + 1)
    stripped = len(text) - len(text.lstrip())
    if text[stripped:stripped + 1] in ("{", "["):
        yield stripped


def _handoff_reason(payload) -> str | None:
    """The reason from {"name": "handoff", "arguments": {...}} or a list of such calls."""
    calls = payload if isinstance(payload, list) else [payload]
    for call in calls:
        if not isinstance(call, dict):
            continue
        call = call.get("function", call)  # OpenAI shape nests name/arguments under "function"
        if call.get("name") != TOOL_NAME:
            continue
        arguments = call.get("arguments", call.get("parameters", {}))
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except json.JSONDecodeError:
                arguments = {"reason": arguments}
        return str(arguments.get("reason", "")) if isinstance(arguments, dict) else ""
    return None


def clean_reason(reason: str, *, detect_pii: bool = True) -> str:
    """One line, secrets redacted, at most MAX_REASON_CHARS characters."""
    line = " ".join(reason.split()).strip(" \"'`<>")
    line = redact(line, detect_pii=detect_pii)  # before trimming: a cut secret would escape the detectors
    if len(line) > MAX_REASON_CHARS:
        line = line[:MAX_REASON_CHARS - 1].rstrip() + "…"
    return line or "no reason given"


def model_requested(ask: HandoffAsk | None, *, detect_pii: bool = True) -> Signal:
    if ask is None:
        return Signal(SIGNAL_NAME, "during", 0.0, None, False, "The local model did not ask for a handoff.")
    how = "called the handoff tool" if ask.form == "tool" else "asked for a handoff"
    message = f'The local model {how}: "{clean_reason(ask.reason, detect_pii=detect_pii)}".'
    return Signal(SIGNAL_NAME, "during", 1.0, None, True, message)


def strip_request(text: str) -> str:
    """The answer without the model's handoff request (what may go out as a draft)."""
    text = _LINE.sub("", text)
    for opener in _TOOL_OPENERS:
        text = text.split(opener)[0]
    return "" if find_request(text) else text.strip()


# ---- offering it to the model ----------------------------------------------------------

class HandoffMonitor:
    """Wraps a DuringMonitor: same protocol, plus the model_requested signal.

    A request counts once complete; on the stream's last event nothing more can
    come, so an unterminated request line is complete then."""

    def __init__(self, inner, detect_pii: bool):
        self.inner, self.detect_pii = inner, detect_pii
        self.text, self.asked = "", None

    def observe(self, event: TokenEvent, elapsed_s: float | None) -> Signal | None:
        fired = self.inner.observe(event, elapsed_s)
        self.text += event.text
        if self.asked is None and ("HANDOFF" in self.text or TOOL_NAME in self.text):
            ask = find_request(self.text, final=event.is_last)
            if ask is not None and ask.complete:
                self.asked = model_requested(ask, detect_pii=self.detect_pii)
                return self.asked
        return fired

    def signals(self) -> list[Signal]:
        return self.inner.signals() + [self.asked or model_requested(None)]


@dataclass(frozen=True)
class Offer:
    """How a cell offers the handoff to the local model: by tool, by instruction, or not at all."""

    form: str | None  # "tool" | "line" | None
    instruction: str = DEFAULT_INSTRUCTION
    detect_pii: bool = True

    def apply(self, messages: list[Message]) -> tuple[list[Message], list[dict] | None]:
        """(messages, tools) as the local model is sent them."""
        if self.form == "tool":
            return list(messages), [HANDOFF_TOOL]
        if self.form != "line":
            return list(messages), None
        if messages and messages[0]["role"] == "system":
            head = {"role": "system", "content": f"{messages[0]['content']}\n\n{self.instruction}"}
            return [head] + list(messages[1:]), None
        return [{"role": "system", "content": self.instruction}] + list(messages), None


NO_OFFER = Offer(None)


def offer_for(wanted: bool, policy: str, backend, instruction: str = "") -> Offer:
    """Offer the handoff when asked for and the policy could hand off; by tool when the chat
    template renders tools, else by instruction. (The cascade drops it when a guard blocks.)"""
    if not wanted or policy == "always-local":
        return NO_OFFER
    form = "tool" if backend.supports_tools() else "line"
    return Offer(form, instruction or DEFAULT_INSTRUCTION)


__all__ = ["find_request", "model_requested", "clean_reason", "strip_request", "offer_for", "Offer", "NO_OFFER",
           "HandoffAsk", "HandoffMonitor", "HANDOFF_TOOL", "DEFAULT_INSTRUCTION", "SIGNAL_NAME"]
