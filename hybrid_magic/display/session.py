"""Run one cell with a live view, then show the answer and the decision card.

After every run the session's listeners are called (the `%hybrid dashboard`
registers one); a listener that fails never breaks the cell.
"""
from __future__ import annotations

from collections.abc import Callable

from IPython.display import display

from ..router.signals import Thresholds
from ..types import Request, RunRecord
from .live import LiveText
from .render import answer_bundle, card_bundle
from .safe import for_prompt

RunListener = Callable[[], None]
_LISTENERS: dict[int, list[RunListener]] = {}  # id(magics) -> callbacks


def add_run_listener(magics, listener: RunListener) -> None:
    _LISTENERS.setdefault(id(magics), []).append(listener)


def remove_run_listener(magics, listener: RunListener) -> None:
    listeners = _LISTENERS.get(id(magics), [])
    if listener in listeners:
        listeners.remove(listener)


def run_listeners(magics) -> list[RunListener]:
    return list(_LISTENERS.get(id(magics), []))


def notify_run(magics) -> None:
    for listener in run_listeners(magics):
        try:
            listener()
        except Exception as error:  # a broken dashboard must not fail the user's cell
            print(f"hybrid_magic: dashboard update failed: {error}")


def show_run(magics, request: Request, magic: str) -> RunRecord | None:
    with for_prompt(request.prompt):  # an echoed secret from the prompt is masked in every view
        if magic == "compare":
            from .compare_view import show_compare

            result = show_compare(magics, request)
            notify_run(magics)
            return result.local
        live = LiveText(interval_s=magics.stream_interval_s)
        engine = magics.engine
        record = {"local": engine.run_local, "hybrid": engine.run_hybrid}[magic](request, live)
        live.replace(answer_bundle(record.answer, request.format, interrupted=record.interrupted))
        show_card(record, explain=request.explain, window=engine.settings.window)
        notify_run(magics)
    if record.interrupted:
        raise KeyboardInterrupt  # stop the rest of a "run all", as an interrupt should
    return record


def show_card(record: RunRecord, *, explain: bool = False, window: int = Thresholds.window):
    """One output: one-line summary, HTML card, provenance MIME and the widget card.
    `window`: the rolling window of the run's during-signals (the timeline redraws them)."""
    from .widgets import decision_card

    card = decision_card(record, explain=explain, window=window)
    display(card_bundle(record, explain=explain, widget=card, window=window), raw=True)
    return card
