"""Static renderings of a finished run: the answer in its format, and an HTML card.

These work wherever outputs are shown (JupyterLab, nbconvert HTML, GitHub);
the widget card of display/widgets.py sits beside them, in the same output, where widgets render.
All three cards (this one, the widget card and the labextension's) share one layout:
head (route badge, magic, why) / handoff line / a learned policy's explanation / timeline / signals / metrics / draft,
styled by card.css.
"""
from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path

from ..router.signals import Thresholds
from ..types import CloudStats, LocalStats, RunRecord, Signal
from .mime import MIME_TYPE, caveats, cost_text, learned_lines, provenance_bundle, reason_text, summary_line
from .safe import code_fence, markdown_safe, shown
from .timeline import timeline_svg

# one stylesheet for the three cards (labextension/style imports the same file)
CARD_STYLE = "<style>" + Path(__file__).with_name("card.css").read_text(encoding="utf-8") + "</style>"


def answer_bundle(text: str, fmt: str, *, interrupted: bool = False) -> dict[str, str]:
    """The answer as a MIME bundle in the requested display format."""
    note = "\n\n[interrupted: partial answer]" if interrupted else ""
    text = shown(text)
    bundle = {"text/plain": text + note}
    if fmt == "markdown":
        bundle["text/markdown"] = markdown_safe(text) + note.replace("[", "*[").replace("]", "]*")
    elif fmt == "code":
        bundle["text/markdown"] = code_fence(strip_fence(text)) + note
    elif fmt == "json":
        bundle["text/markdown"] = code_fence(pretty_json(text), "json") + note
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


def card_bundle(record: RunRecord, *, explain: bool = False, widget=None, window: int = Thresholds.window) -> dict:
    """text/plain summary + text/html card + the provenance MIME (+ the widget view), in one output."""
    provenance = provenance_bundle(record, window=window)
    bundle = {
        "text/plain": summary_line(record),
        "text/html": card_html(record, explain=explain, provenance=provenance),
        MIME_TYPE: provenance,
    }
    if widget is not None:
        bundle.update(widget_view(widget))
    return bundle


def widget_view(widget) -> dict:
    """The MIME entry that makes a front end draw `widget` inside an output bundle."""
    return {"application/vnd.jupyter.widget-view+json":
            {"version_major": 2, "version_minor": 0, "model_id": widget.model_id}}


_ROUTE_COLORS = {"local": "#2e7d32", "cloud": "#1565c0", "blocked": "#b26a00", "failed": "#c62828"}


def outcome(record: RunRecord) -> str:
    """local / cloud / blocked / failed: the card's accent (data-outcome)."""
    d = record.decision
    if d.blocked_by:
        return "failed" if d.blocked_by == "cloud_error" else "blocked"
    return d.route


def route_label(record: RunRecord) -> tuple[str, str]:
    kind = outcome(record)
    label = {"failed": "handoff failed", "blocked": "handoff blocked"}.get(kind, kind)
    return label, _ROUTE_COLORS[kind]


def head_html(record: RunRecord) -> str:
    """Route badge, magic and the why, in one row."""
    label, _ = route_label(record)
    return (f"<div class='hm-head'><span class='hm-badge'>{label}</span>"
            f"<span class='hm-magic'>%%{html.escape(record.magic)}</span>"
            f"<span class='hm-why'>{html.escape(reason_text(record))}</span></div>")


def handoff_text(record: RunRecord) -> str:
    """'Handed off to the cloud (during generation)', 'Handoff blocked: privacy ...', or ''."""
    d = record.decision
    if not d.handoff_requested or record.magic == "compare":
        return ""
    stage = f" ({d.stage} generation)" if d.stage else ""
    if d.handoff_performed:
        return f"Handed off to the cloud{stage}"
    kind = "failed" if d.blocked_by == "cloud_error" else "blocked"
    return f"Handoff {kind}: {d.blocked_by or 'unknown reason'}{stage}; the local answer was kept"


def learned_html(record: RunRecord) -> str:
    """A learned policy's explanation, one line each (none for other policies)."""
    return "".join(f"<div class='hm-learned'>{html.escape(line)}</div>" for line in learned_lines(record.decision))


def caveat_html(record: RunRecord) -> str:
    """One line per caveat that holds for the run (mime.caveats)."""
    return "".join(f"<div class='hm-caveat'>caveat: {html.escape(line)}</div>" for line in caveats(record.decision))


def _signal_row(s: Signal) -> str:
    value = "n/a" if s.value is None else f"{s.value:.3g}"
    threshold = "" if s.threshold is None else f"{s.threshold:.3g}"
    mark = "▲" if s.triggered else ("–" if not s.available else "·")
    return (f"<tr data-triggered='{str(s.triggered).lower()}'><td>{mark}</td><td>{html.escape(s.name)}</td>"
            f"<td>{html.escape(s.stage)}</td><td>{value}</td><td>{threshold}</td>"
            f"<td>{html.escape(s.message)}</td></tr>")


def signal_table(signals) -> str:
    rows = "".join(_signal_row(s) for s in signals)
    return (f"<table class='hm-signals'><tr class='hm-colnames'><th></th><th>signal</th><th>stage</th>"
            f"<th>value</th><th>threshold</th><th>why</th></tr>{rows}</table>")


def shown_signals(signals: Sequence[Signal], show_all: bool) -> list[Signal]:
    """Triggered first; all of them when show_all, else only the triggered ones."""
    ordered = sorted(signals, key=lambda s: not s.triggered)
    return ordered if show_all else [s for s in ordered if s.triggered]


def _signals_html(signals: Sequence[Signal], explain: bool) -> str:
    """Triggered signals in a table; the others in a collapsed table (open with --explain)."""
    fired = shown_signals(signals, False)
    quiet = [s for s in signals if not s.triggered]
    parts = [signal_table(fired) if fired else "<div class='hm-muted'>No signal triggered.</div>"]
    if quiet:
        parts.append(f"<details{' open' if explain else ''}><summary>{len(quiet)} signal(s) not triggered"
                     f"</summary>{signal_table(quiet)}</details>")
    return "".join(parts)


def _local_row(s: LocalStats) -> str:
    early = " (stopped early)" if s.stopped_early else ""
    return (f"<tr><td>local</td><td>{html.escape(s.model)} · {html.escape(s.backend)}</td><td>{s.ttft_s:.2f}s</td>"
            f"<td>{s.tokens_per_s:.1f}</td><td>{s.prompt_tokens} / {s.completion_tokens}{early}</td>"
            f"<td>{s.seconds:.2f}s</td><td>free (on this machine)</td></tr>")


def _cloud_row(s: CloudStats) -> str:
    rate = (s.completion_tokens / s.seconds) if s.seconds > 0 else 0.0
    return (f"<tr><td>cloud</td><td>{html.escape(s.model)} @ {html.escape(s.host)}</td><td>{s.ttft_s:.2f}s</td>"
            f"<td>{rate:.1f}</td><td>{s.prompt_tokens} / {s.completion_tokens}</td>"
            f"<td>{s.seconds:.2f}s</td><td>{cost_text(s.cost_usd)}</td></tr>")


def metrics_html(local: LocalStats | None, cloud: CloudStats | None) -> str:
    rows = (_local_row(local) if local else "") + (_cloud_row(cloud) if cloud else "")
    return ("<table class='hm-metrics'><tr class='hm-colnames'><th></th><th>model</th><th>TTFT</th>"
            f"<th>tok/s</th><th>tokens in / out</th><th>time</th><th>cost</th></tr>{rows}</table>")


def draft_html(record: RunRecord) -> str:
    if not (record.decision.handoff_performed and record.local_text):
        return ""
    return (f"<details class='hm-draft'><summary>local draft ({len(record.tokens)} tokens, stopped early: "
            f"{record.local.stopped_early if record.local else False})</summary>"
            f"<pre>{html.escape(shown(record.local_text))}</pre></details>")


def card_html(record: RunRecord, *, explain: bool = False, provenance: dict | None = None) -> str:
    provenance = provenance if provenance is not None else provenance_bundle(record)
    handoff = handoff_text(record)
    parts = [
        head_html(record),
        f"<div class='hm-handoff'>{html.escape(handoff)}</div>" if handoff else "",
        learned_html(record),
        caveat_html(record),
        f"<div class='hm-error'>{html.escape(shown(record.error))}</div>" if record.error else "",
        timeline_svg(provenance),
        _signals_html(record.decision.signals, explain),
        metrics_html(record.local, record.cloud),
        draft_html(record),
    ]
    return (f"{CARD_STYLE}<div class='hm-card hybrid-magic-card' data-outcome='{outcome(record)}'>"
            f"{''.join(parts)}</div>")
