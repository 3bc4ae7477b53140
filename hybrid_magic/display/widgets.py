"""The decision card: an ipywidgets view of a finished run.

It renders only what the engine decided (route, signals, stats); it computes
nothing. Children are named through `card.layout`-free attributes so tests can
find them: `card.badge`, `card.signals`, `card.show_all`, `card.metrics`,
`card.confidence`, `card.draft`.
"""
from __future__ import annotations

import html

import ipywidgets as widgets

from ..router.signals import Thresholds
from ..types import RunRecord
from .confidence import confidence_html
from .mime import provenance_bundle
from .render import (CARD_STYLE, caveat_html, handoff_text, head_html, learned_html, metrics_html, outcome,
                     shown_signals, signal_table)
from .safe import shown
from .timeline import timeline_svg


def badge_html(record: RunRecord) -> str:
    """The card's head (badge, magic, why), handoff line, a learned policy's explanation and the caveats; carries
    the card stylesheet."""
    handoff = handoff_text(record)
    line = f"<div class='hm-handoff'>{html.escape(handoff)}</div>" if handoff else ""
    return CARD_STYLE + head_html(record) + line + learned_html(record) + caveat_html(record)


class DecisionCard(widgets.VBox):
    """Route badge, signal rows (toggle: all), metrics, token confidence, local draft."""

    def __init__(self, record: RunRecord, *, explain: bool = False, window: int = Thresholds.window):
        self.record = record
        self.badge = widgets.HTML(badge_html(record))
        self.error = widgets.HTML(f"<div class='hm-error'>{html.escape(record.error)}</div>" if record.error else "")
        self.timeline = widgets.HTML(timeline_svg(provenance_bundle(record, window=window)))
        self.show_all = widgets.ToggleButton(value=explain, description="show all signals",
                                             tooltip="Show every measured signal, not only triggered ones")
        self.signals = widgets.HTML(self._signals_html(explain))
        self.show_all.observe(lambda change: self._toggle(change["new"]), names="value")
        self.metrics = widgets.HTML(metrics_html(record.local, record.cloud))
        self.confidence = widgets.HTML(confidence_html(record.tokens))
        self.draft = self._draft_section()
        self.reasoning = self._reasoning_section()
        toggle = widgets.HBox([self.show_all]) if record.decision.signals else None
        children = [self.badge, self.error, self.timeline, self.signals, toggle, self.metrics, self.draft,
                    self.reasoning]
        super().__init__(children=[c for c in children if c is not None and getattr(c, "value", True) != ""])
        for name in ("hybrid-magic-card", "hm-card", f"hm-outcome-{outcome(record)}"):
            self.add_class(name)

    def _signals_html(self, show_all: bool) -> str:
        rows = shown_signals(self.record.decision.signals, show_all)
        if not rows:
            return "<div class='hm-muted'>No signal triggered.</div>"
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
        body = widgets.HTML(f"<pre class='hm-reasoning'>{html.escape(shown(self.record.reasoning))}</pre>")
        accordion = widgets.Accordion(children=[body], titles=("reasoning",))
        accordion.selected_index = None
        return accordion


def decision_card(record: RunRecord, *, explain: bool = False, window: int = Thresholds.window) -> DecisionCard:
    return DecisionCard(record, explain=explain, window=window)

