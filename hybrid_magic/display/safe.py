"""What may be shown: detected secrets are masked, and model text never becomes live HTML.

Outputs are saved into notebooks that get shared. A local model that echoes a key
from the prompt (whole or cut short) must not put it there; the raw text stays in
`--out` results. `for_prompt` sets, for the cell being shown, the secrets found in
its prompt, so that fragments of them are masked too; the configured API key
(OPENAI_API_KEY, whatever its format) is always masked. `shown` is the one masking
function every displayed text goes through.

Model text shown as Markdown keeps its Markdown but not raw HTML: outside code,
`<` is escaped and `javascript:`-style link targets are disabled (nbconvert's HTML
export does not sanitise). Code is fenced with a fence longer than any backtick
run inside it, so an answer cannot close the block early.
"""
from __future__ import annotations

import os
import re
from collections.abc import Sequence
from contextlib import contextmanager

from ..router.privacy import find_sensitive, redact

MIN_FRAGMENT = 8  # shorter echoes of a secret carry too little of it to matter
_prompt_secrets: list[str] = []


@contextmanager
def for_prompt(prompt: str):
    """While a cell is shown, also mask fragments of the secrets its prompt holds."""
    _prompt_secrets[:] = [prompt[f.start:f.end] for f in find_sensitive(prompt)]
    try:
        yield
    finally:
        _prompt_secrets.clear()


def _known_secrets() -> list[str]:
    key = os.environ.get("OPENAI_API_KEY", "")
    return _prompt_secrets + ([key] if len(key) >= MIN_FRAGMENT else [])


def _secret_spans(text: str) -> list[tuple[int, int]]:
    spans = [(f.start, f.end) for f in find_sensitive(text)]
    for secret in _known_secrets():
        spans += _fragment_spans(text, secret)
    return spans


def _fragment_spans(text: str, secret: str) -> list[tuple[int, int]]:
    """Spans of `text` that repeat >= MIN_FRAGMENT characters of `secret` in a row."""
    spans, i = [], 0
    while i <= len(text) - MIN_FRAGMENT:
        start = secret.find(text[i:i + MIN_FRAGMENT])
        if start < 0:
            i += 1
            continue
        length = MIN_FRAGMENT
        while i + length < len(text) and start + length < len(secret) and text[i + length] == secret[start + length]:
            length += 1
        spans.append((i, i + length))
        i += length
    return spans


def shown(text: str) -> str:
    if not text:
        return text
    text = redact(text)
    for start, end in sorted(_secret_spans(text), reverse=True):
        text = text[:start] + "[REDACTED]" + text[end:]
    return text


def masked_token_texts(texts: Sequence[str]) -> list[str]:
    """Token texts with every character inside a detected secret replaced by '•'."""
    joined = "".join(texts)
    spans = _secret_spans(joined)
    if not spans:
        return list(texts)
    hidden = bytearray(len(joined))
    for start, end in spans:
        hidden[start:end] = b"\x01" * (end - start)
    masked, offset = [], 0
    for text in texts:
        masked.append("".join("•" if hidden[offset + i] else ch for i, ch in enumerate(text)))
        offset += len(text)
    return masked


# Markdown: fenced blocks and code spans are shown literally by every renderer, so they stay as they are.
_CODE = re.compile(r"(?ms)^ {0,3}(`{3,}|~{3,})[^\n]*\n.*?(?:^ {0,3}\1[`~]*[ \t]*$|\Z)"
                   r"|(?<!`)(`+)(?!`).+?(?<!`)\2(?!`)")
_UNSAFE_LINK = re.compile(r"(?i)(\]\(\s*<?)\s*(?:javascript|vbscript|data|file):")


def markdown_safe(text: str) -> str:
    """Markdown with raw HTML outside code escaped and script links disabled."""
    pieces, cursor = [], 0
    for code in _CODE.finditer(text):
        pieces += [_prose_safe(text[cursor:code.start()]), code.group(0)]
        cursor = code.end()
    pieces.append(_prose_safe(text[cursor:]))
    return "".join(pieces)


def _prose_safe(text: str) -> str:
    return _UNSAFE_LINK.sub(r"\1#unsafe-link-removed:", text.replace("&", "&amp;").replace("<", "&lt;"))


def code_fence(body: str, info: str = "") -> str:
    """`body` as a fenced code block whose fence no backtick run inside it can close."""
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{body}\n{fence}"
