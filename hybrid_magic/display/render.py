"""Static renderings of a finished run: the answer in its format, and an HTML card.

These work wherever outputs are shown (JupyterLab, nbconvert HTML, GitHub);
the widget card of display/widgets.py sits beside them, in the same output, where widgets render.
"""
from __future__ import annotations

import html
import json
from collections.abc import Sequence

from ..types import RunRecord, Signal
from .mime import MIME_TYPE, provenance_bundle, reason_text, summary_line
from .safe import shown


def answer_bundle(text: str, fmt: str, *, interrupted: bool = False) -> dict[str, str]:
    """The answer as a MIME bundle in the requested display format."""
    note = "\n\n[interrupted: partial answer]" if interrupted else ""
    text = shown(text)
    bundle = {"text/plain": text + note}
    if fmt == "markdown":
        bundle["text/markdown"] = text + note.replace("[", "*[").replace("]", "]*")
    elif fmt == "code":
        bundle["text/markdown"] = "```\n" + strip_fence(text) + "\n```" + note
    elif fmt == "json":
        bundle["text/markdown"] = "```json\n" + pretty_json(text) + "\n```" + note
    return bundle


def strip_fence(text: str) -> str:
    lines = text.strip().splitlines()
    if len(lines) >= 2 and lines[0].startswith("```") and lines[-1].strip() == "```":
        return "\n".join(lines[1:-1])
    return text.strip()


def pretty_json(text: str) -> str:
    body = strip_fence(text)
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except ValueError:
        return body


def card_bundle(record: RunRecord, *, explain: bool = False, widget=None) -> dict:
    """text/plain summary + text/html card + the provenance MIME (+ the widget view), in one output."""
    bundle = {
        "text/plain": summary_line(record),
        "text/html": card_html(record, explain=explain),
        MIME_TYPE: provenance_bundle(record),
    }
    if widget is not None:
        bundle.update(widget_view(widget))
    return bundle


def widget_view(widget) -> dict:
    """The MIME entry that makes a front end draw `widget` inside an output bundle."""
    return {"application/vnd.jupyter.widget-view+json":
            {"version_major": 2, "version_minor": 0, "model_id": widget.model_id}}


_ROUTE_COLORS = {"local": "#2e7d32", "cloud": "#1565c0", "blocked": "#b26a00", "failed": "#c62828"}


def route_label(record: RunRecord) -> tuple[str, str]:
    d = record.decision
    if d.blocked_by == "cloud_error":
        return "handoff failed", _ROUTE_COLORS["failed"]
    if d.blocked_by:
        return "handoff blocked", _ROUTE_COLORS["blocked"]
    return d.route, _ROUTE_COLORS[d.route]


def _signal_row(s: Signal) -> str:
    value = "n/a" if s.value is None else f"{s.value:.3g}"
    threshold = "" if s.threshold is None else f"{s.threshold:.3g}"
    mark = "▲" if s.triggered else ("–" if not s.available else "·")
    weight = "bold" if s.triggered else "normal"
    return (f"<tr style='font-weight:{weight}'><td>{mark}</td><td>{html.escape(s.name)}</td>"
            f"<td>{html.escape(s.stage)}</td><td>{value}</td><td>{threshold}</td>"
            f"<td>{html.escape(s.message)}</td></tr>")


def signal_table(signals) -> str:
    rows = "".join(_signal_row(s) for s in signals)
    return (f"<table class='hm-signals' style='font-size:12px'><tr><th></th><th>signal</th><th>stage</th>"
            f"<th>value</th><th>threshold</th><th>why</th></tr>{rows}</table>")


def shown_signals(signals: Sequence[Signal], show_all: bool) -> list[Signal]:
    """Triggered first; all of them when show_all, else only the triggered ones."""
    ordered = sorted(signals, key=lambda s: not s.triggered)
    return ordered if show_all else [s for s in ordered if s.triggered]


def card_html(record: RunRecord, *, explain: bool = False) -> str:
    label, color = route_label(record)
    why = reason_text(record)
    listed = shown_signals(record.decision.signals, explain)
    table = signal_table(listed) if listed else ""
    facts = html.escape(summary_line(record))
    draft = ""
    if record.decision.handoff_performed and record.local_text:
        draft = (f"<details><summary>local draft ({len(record.tokens)} tokens, stopped early: "
                 f"{record.local.stopped_early if record.local else False})</summary>"
                 f"<pre style='white-space:pre-wrap'>{html.escape(shown(record.local_text))}</pre></details>")
    error = f"<div style='color:{_ROUTE_COLORS['failed']}'>{html.escape(record.error)}</div>" if record.error else ""
    return (f"<div class='hybrid-magic-card' style='border-left:4px solid {color};padding:4px 8px;font-size:12px'>"
            f"<span style='background:{color};color:white;padding:1px 6px;border-radius:3px'>{label}</span> "
            f"<span>{html.escape(why)}</span>{error}{table}"
            f"<div style='opacity:.75'>{facts}</div>{draft}</div>")
