"""Run one cell with a live view, then show the answer and the decision card."""
from __future__ import annotations

from IPython.display import display

from ..types import Request, RunRecord
from .live import LiveText
from .render import answer_bundle, card_bundle


def show_run(magics, request: Request, magic: str) -> RunRecord | None:
    live = LiveText(interval_s=magics.stream_interval_s)
    engine = magics.engine
    run = {"local": engine.run_local, "hybrid": engine.run_hybrid}.get(magic)
    if run is None:
        from .compare import show_compare

        return show_compare(magics, request, live)
    record = run(request, live)
    live.replace(answer_bundle(record.answer, request.format, interrupted=record.interrupted))
    display(card_bundle(record, explain=request.explain), raw=True)
    if record.interrupted:
        raise KeyboardInterrupt  # stop the rest of a "run all", as an interrupt should
    return record
