"""Token-confidence view: each local token shaded by its probability exp(logprob).

Hovering a token shows its logprob and the top alternatives (a `title` tooltip),
so it works in JupyterLab, in a static HTML export and without JavaScript.
"""
from __future__ import annotations

import html
import math
from collections.abc import Sequence

from ..types import TokenEvent
from .safe import masked_token_texts

LEGEND = ("<div style='font-size:11px;opacity:.7;margin-top:2px'>shade = token probability "
          "(darker = less sure); hover a token for its logprob and alternatives</div>")


def _shade(probability: float | None) -> str:
    if probability is None:
        return "transparent"
    alpha = round(0.6 * (1.0 - probability), 3)  # a sure token stays clear, an unsure one turns orange
    return f"rgba(230,81,0,{alpha})"


def token_tooltip(event: TokenEvent) -> str:
    if event.logprob is None:
        return "no logprob from this backend"
    lines = [f"logprob {event.logprob:.3f} (p={math.exp(event.logprob):.2f})"]
    if event.top_logprobs:
        lines.append("alternatives: " + ", ".join(f"{t!r} {lp:.2f}" for t, lp in event.top_logprobs))
    return "\n".join(lines)


def token_span(event: TokenEvent, text: str | None = None) -> str:
    """One shaded token; `text` is what to show (masked when part of a secret)."""
    text = event.text if text is None else text
    probability = None if event.logprob is None else math.exp(event.logprob)
    p = "" if probability is None else f"{probability:.4f}"
    tooltip = token_tooltip(event) if text == event.text else "part of a detected secret (masked)"
    return (f"<span class='hm-token' data-p='{p}' title='{html.escape(tooltip, quote=True)}' "
            f"style='background:{_shade(probability)};border-radius:2px'>{html.escape(text)}</span>")


def confidence_html(tokens: Sequence[TokenEvent]) -> str:
    shown = [t for t in tokens if t.text]
    if not shown:
        return "<div class='hm-confidence'><i>no local tokens</i></div>"
    body = "".join(token_span(t, text) for t, text in zip(shown, masked_token_texts([t.text for t in shown])))
    return (f"<div class='hm-confidence' style='white-space:pre-wrap;font-family:monospace;font-size:12px;"
            f"line-height:1.6'>{body}</div>{LEGEND}")


def confidence_view(tokens: Sequence[TokenEvent]):
    """An ipywidgets HTML widget of the shaded tokens."""
    import ipywidgets as widgets

    return widgets.HTML(value=confidence_html(tokens))
