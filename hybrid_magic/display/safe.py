"""What may be shown: detected secrets are masked in every displayed text.

Outputs are saved into notebooks that get shared. A local model that echoes a key
from the prompt (whole or cut short) must not put it there; the raw text stays in
`--out` results. `for_prompt` sets, for the cell being shown, the secrets found in
its prompt, so that fragments of them are masked too.
"""
from __future__ import annotations

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


def _secret_spans(text: str) -> list[tuple[int, int]]:
    spans = [(f.start, f.end) for f in find_sensitive(text)]
    for secret in _prompt_secrets:
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
