"""The decision card: an ipywidgets view of a finished run.

It renders only what the engine decided (route, signals, stats); it computes
nothing. Children are named through `card.layout`-free attributes so tests can
find them: `card.badge`, `card.signals`, `card.show_all`, `card.metrics`,
`card.confidence`, `card.draft`.
"""
from __future__ import annotations

import html

import ipywidgets as widgets

from ..types import CloudStats, LocalStats, RunRecord
from .confidence import confidence_html
from .mime import cost_text, reason_text
from .render import route_label, shown_signals, signal_table

def badge_html(record: RunRecord) -> str:
    label, color = route_label(record)
    why = html.escape(reason_text(record))
    return (f"<span class='hm-badge' style='background:{color};color:white;padding:1px 8px;"
            f"border-radius:3px;font-weight:bold'>{label}</span> <span class='hm-why'>{why}</span>")


def _local_row(s: LocalStats) -> str:
    early = " (stopped early)" if s.stopped_early else ""
    return (f"<tr><td>local</td><td>{html.escape(s.model)} · {s.backend}</td><td>{s.ttft_s:.2f}s</td>"
            f"<td>{s.tokens_per_s:.1f}</td><td>{s.prompt_tokens} / {s.completion_tokens}{early}</td>"
            f"<td>{s.seconds:.2f}s</td><td>free (on this machine)</td></tr>")


def _cloud_row(s: CloudStats) -> str:
    rate = (s.completion_tokens / s.seconds) if s.seconds > 0 else 0.0
    return (f"<tr><td>cloud</td><td>{html.escape(s.model)} @ {html.escape(s.host)}</td><td>{s.ttft_s:.2f}s</td>"
            f"<td>{rate:.1f}</td><td>{s.prompt_tokens} / {s.completion_tokens}</td>"
            f"<td>{s.seconds:.2f}s</td><td>{cost_text(s.cost_usd)}</td></tr>")


def metrics_html(local: LocalStats | None, cloud: CloudStats | None) -> str:
    rows = (_local_row(local) if local else "") + (_cloud_row(cloud) if cloud else "")
    return ("<table class='hm-metrics' style='font-size:12px'><tr><th></th><th>model</th><th>TTFT</th>"
            f"<th>tok/s</th><th>tokens in / out</th><th>time</th><th>cost</th></tr>{rows}</table>")


class DecisionCard(widgets.VBox):
    """Route badge, signal rows (toggle: all), metrics, token confidence, local draft."""

    def __init__(self, record: RunRecord, *, explain: bool = False):
        self.record = record
        self.badge = widgets.HTML(badge_html(record))
        self.error = widgets.HTML(f"<div style='color:#c62828'>{html.escape(record.error)}</div>"
                                  if record.error else "")
        self.show_all = widgets.ToggleButton(value=explain, description="show all signals",
                                             tooltip="Show every measured signal, not only triggered ones")
        self.signals = widgets.HTML(self._signals_html(explain))
        self.show_all.observe(lambda change: self._toggle(change["new"]), names="value")
        self.metrics = widgets.HTML(metrics_html(record.local, record.cloud))
        self.confidence = widgets.HTML(confidence_html(record.tokens))
        self.draft = self._draft_section()
        self.reasoning = self._reasoning_section()
        children = [self.badge, self.error, widgets.HBox([self.show_all]), self.signals, self.metrics, self.draft,
                    self.reasoning]
        super().__init__(children=[c for c in children if c is not None],
                         layout=widgets.Layout(border_left="4px solid " + route_label(record)[1],
                                               padding="2px 8px"))
        self.add_class("hybrid-magic-card")

    def _signals_html(self, show_all: bool) -> str:
        rows = shown_signals(self.record.decision.signals, show_all)
        if not rows:
            return "<div style='font-size:12px;opacity:.7'>no signal triggered</div>"
        return signal_table(rows)

    def _toggle(self, show_all: bool) -> None:
        self.signals.value = self._signals_html(show_all)

    def _draft_section(self) -> widgets.Accordion:
        """Handed off: the local draft, collapsed. Otherwise: the local answer's token confidence."""
        r = self.record
        if r.decision.handoff_performed and r.local is not None:
            early = ", stopped early" if r.local.stopped_early else ""
            title = f"local draft ({r.local.completion_tokens} tokens{early})"
        else:
            title = f"token confidence ({len(r.tokens)} local tokens)"
        accordion = widgets.Accordion(children=[self.confidence], titles=(title,))
        accordion.selected_index = None  # collapsed
        return accordion


    def _reasoning_section(self) -> widgets.Accordion | None:
        """A reasoning model's thinking, collapsed and apart from the answer."""
        if not self.record.reasoning.strip():
            return None
        body = widgets.HTML(f"<pre style='white-space:pre-wrap;font-size:12px'>"
                            f"{html.escape(self.record.reasoning)}</pre>")
        accordion = widgets.Accordion(children=[body], titles=("reasoning",))
        accordion.selected_index = None
        return accordion


def decision_card(record: RunRecord, *, explain: bool = False) -> DecisionCard:
    return DecisionCard(record, explain=explain)

