"""Show one cell's run: the live view while it streams, then the answer and the decision card.

Display only renders: the magics run the cell (engine, cloud, ledger) and hand
the record here. What the display keeps between cells (run listeners, the
listening dashboard, the last %%compare view) lives in one `Views` object the
magics own, so a second notebook or a test has its own.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from IPython.display import display

from ..router.signals import Thresholds
from ..types import Request, RunRecord
from .live import LiveText
from .render import answer_bundle, card_bundle

RunListener = Callable[[], None]


@dataclass
class Views:
    """Display state across cells, owned by one HybridMagics."""

    listeners: list[RunListener] = field(default_factory=list)
    dashboard: object | None = None  # the dashboard that is listening
    latest_compare: object | None = None  # the last %%compare view (vote from code)

    def add_run_listener(self, listener: RunListener) -> None:
        self.listeners.append(listener)

    def remove_run_listener(self, listener: RunListener) -> None:
        if listener in self.listeners:
            self.listeners.remove(listener)

    def notify_run(self) -> None:
        for listener in list(self.listeners):
            try:
                listener()
            except Exception as error:  # a broken dashboard must not fail the user's cell
                print(f"hybrid_magic: dashboard update failed: {error}")


def live_view(interval_s: float) -> LiveText:
    """The streaming view a run reports to (a RunObserver)."""
    return LiveText(interval_s=interval_s)


def show_answer(live: LiveText, record: RunRecord, request: Request, window: int = Thresholds.window) -> None:
    """Swap the live view for the final answer, then show the card."""
    live.replace(answer_bundle(record.answer, request.format, interrupted=record.interrupted))
    show_card(record, explain=request.explain, window=window)


def show_card(record: RunRecord, *, explain: bool = False, window: int = Thresholds.window):
    """One output: one-line summary, HTML card, provenance MIME and the widget card.
    `window`: the rolling window of the run's during-signals (the timeline redraws them)."""
    from .widgets import decision_card

    card = decision_card(record, explain=explain, window=window)
    display(card_bundle(record, explain=explain, widget=card, window=window), raw=True)
    return card
