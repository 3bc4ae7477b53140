"""`%hybrid dashboard`: this session's runs and totals, updated after every cell.

The dashboard registers a listener with the magics' `Views` (display/session.py)
and reads the session's runs through `magics.session_runs()`; showing a new
dashboard (or closing the widget) unregisters the previous one, so a notebook
never accumulates stale callbacks.
"""
from __future__ import annotations

import html
import re
import statistics

import ipywidgets as widgets
from IPython.display import display

from .render import widget_view
from .mime import cost_text

_COLUMNS = ("cell #", "magic", "route", "reason", "time", "tokens", "cost")


def run_seconds(row: dict) -> float:
    return (row["local_seconds"] or 0.0) + (row["cloud_seconds"] or 0.0)


def median_latency(rows: list[dict]) -> dict[str, float]:
    by_route: dict[str, list[float]] = {}
    for row in rows:
        by_route.setdefault(row["route"], []).append(run_seconds(row))
    return {route: statistics.median(values) for route, values in sorted(by_route.items())}


def _row_html(row: dict) -> str:
    tokens = (row["local_completion_tokens"] or 0) + (row["cloud_completion_tokens"] or 0)
    cost = "—" if row["cloud_model"] is None else cost_text(row["cost_usd"])
    cells = (f"#{row['id']}", f"%%{row['magic']}", row["route"], row["reason"] or "",
             f"{run_seconds(row):.2f}s", str(tokens), cost)
    return "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"


def runs_html(rows: list[dict]) -> str:
    head = "".join(f"<th>{c}</th>" for c in _COLUMNS)
    body = "".join(_row_html(r) for r in reversed(rows)) or f"<tr><td colspan='{len(_COLUMNS)}'>no runs yet</td></tr>"
    return f"<table class='hm-dashboard-runs' style='font-size:12px'><tr>{head}</tr>{body}</table>"


def totals_html(totals: dict, medians: dict[str, float]) -> str:
    latency = ", ".join(f"{route} {value:.2f}s" for route, value in medians.items()) or "n/a"
    unknown = totals["runs_with_unknown_price"]
    note = f" ({unknown} runs with unknown price)" if unknown else ""
    return (f"<div class='hm-dashboard-totals' style='font-size:12px'>"
            f"<b>{totals['runs']}</b> runs · local <b>{totals['local']}</b> · cloud <b>{totals['cloud']}</b>"
            f" · blocked/failed {totals['blocked']}<br>cloud spend <b>${totals['cloud_spend_usd']:.6f}</b>"
            f" · spend avoided vs all-cloud <b>${totals['spend_avoided_usd']:.6f}</b>{note}"
            f"<br>median latency per route: {latency}</div>")


class Dashboard(widgets.VBox):
    def __init__(self, magics):
        self.views, self.session_runs = magics.views, magics.session_runs
        self.totals = widgets.HTML()
        self.runs = widgets.HTML()
        super().__init__([widgets.HTML("<b>hybrid_magic · this session</b>"), self.totals, self.runs])
        self.add_class("hybrid-magic-dashboard")
        self.refresh()
        self.views.add_run_listener(self.refresh)

    def refresh(self) -> None:
        rows, totals = self.session_runs()
        self.totals.value = totals_html(totals, median_latency(rows))
        self.runs.value = runs_html(rows)

    def close(self) -> None:
        self.views.remove_run_listener(self.refresh)
        if self.views.dashboard is self:
            self.views.dashboard = None
        super().close()


def show_dashboard(magics) -> Dashboard:
    previous = magics.views.dashboard
    if previous is not None:
        previous.close()  # one live dashboard per session: the old one stops listening
    board = Dashboard(magics)
    magics.views.dashboard = board
    text = board.totals.value.replace("<br>", "\n")
    display({"text/plain": html.unescape(re.sub(r"<[^>]+>", "", text)), **widget_view(board)}, raw=True)
    return board
