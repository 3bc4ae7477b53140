"""%%compare view: local and cloud stream side by side, then metrics, a word diff,
what %%hybrid would have decided, and vote buttons.

Display only: the magics run the comparison and pass `on_vote(result, choice)`,
which records a vote; the result is read duck-typed (compare.CompareResult).

The view is also the RunObserver; the cloud side calls it from its own thread
(ipywidgets 8 sends updates from any thread), so updates are throttled per pane
under a lock.
"""
from __future__ import annotations

import difflib
import html
import threading
import time

import ipywidgets as widgets
from IPython.display import display

from collections.abc import Callable

from ..router.signals import Thresholds
from ..types import RunRecord, TokenEvent
from .mime import MIME_TYPE, cost_text, provenance_bundle, reason_text, summary_line
from .render import CARD_STYLE, learned_html, metrics_html, route_label, shown_signals, signal_table, widget_view
from .safe import shown
from .timeline import timeline_svg

_PRE = "<pre style='white-space:pre-wrap;margin:2px 0;font-size:12px'>{}</pre>"


def word_diff_html(local: str, cloud: str) -> str:
    """Word-level diff: removed (local only) struck through in red, added (cloud only) in green."""
    a, b = local.split(), cloud.split()
    parts = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op in ("replace", "delete"):
            parts.append(f"<del style='background:#ffebee'>{html.escape(' '.join(a[i1:i2]))}</del>")
        if op in ("replace", "insert"):
            parts.append(f"<ins style='background:#e8f5e9'>{html.escape(' '.join(b[j1:j2]))}</ins>")
        if op == "equal":
            parts.append(html.escape(" ".join(a[i1:i2])))
    return "<div class='hm-diff' style='font-size:12px'>" + " ".join(parts) + "</div>"


class _Pane(widgets.VBox):
    def __init__(self, title: str):
        self.title = widgets.HTML(f"<b>{html.escape(title)}</b>")
        self.status = widgets.HTML("waiting…")
        self.answer = widgets.HTML("")
        self.text = ""
        self.tokens = 0
        super().__init__([self.title, self.status, self.answer],
                         layout=widgets.Layout(width="50%", padding="0 6px", border="1px solid #ddd"))

    def show(self) -> None:
        self.answer.value = _PRE.format(html.escape(shown(self.text)))


Vote = Callable[[object, str], None]  # (the compare result, "local" | "cloud" | "tie")


class CompareView(widgets.VBox):
    def __init__(self, on_vote: Vote | None = None, *, interval_s: float = 0.1, explain: bool = False,
                 window: int = Thresholds.window):
        self.on_vote, self.interval_s, self.explain, self.window = on_vote, interval_s, explain, window
        self.result = None
        self.handle = None  # the display handle the final bundle replaces
        self._lock = threading.Lock()
        self._last = {"local": 0.0, "cloud": 0.0}
        self.local_pane, self.cloud_pane = _Pane("local"), _Pane("cloud")
        self.metrics = widgets.HTML("")
        self.timeline = widgets.HTML("")  # local tokens against the threshold, and the cloud's span
        self.would = widgets.HTML("")
        self.diff_toggle = widgets.ToggleButton(description="word diff", value=False, disabled=True)
        self.diff = widgets.HTML("", layout=widgets.Layout(display="none"))
        self.diff_toggle.observe(lambda c: self._show_diff(c["new"]), names="value")
        self.vote_buttons = [widgets.Button(description=v, disabled=True, tooltip=f"vote: {v} answer was better")
                             for v in ("local", "cloud", "tie")]
        for button in self.vote_buttons:
            button.on_click(lambda b: self.vote(b.description))
        self.vote_status = widgets.HTML("")
        votes = widgets.HBox([widgets.HTML("which answer is better?"), *self.vote_buttons, self.vote_status])
        super().__init__([widgets.HBox([self.local_pane, self.cloud_pane]), self.metrics, self.timeline, self.would,
                          self.diff_toggle, self.diff, votes])
        self.add_class("hybrid-magic-compare")

    # ---- RunObserver (local side: kernel thread; cloud side: its own thread) -------------------
    def phase(self, name: str, detail: str = "") -> None:
        pane = self.cloud_pane if name == "cloud" else self.local_pane
        if name != "done":
            pane.status.value = html.escape(f"{name}: {detail}" if detail else name)

    def local_token(self, event: TokenEvent) -> None:
        self._token(self.local_pane, "local", event)

    def cloud_token(self, event: TokenEvent) -> None:
        self._token(self.cloud_pane, "cloud", event)

    def _token(self, pane: _Pane, side: str, event: TokenEvent) -> None:
        with self._lock:
            pane.text += event.text
            pane.tokens += 1 if event.text else 0
            now = time.monotonic()
            if now - self._last[side] >= self.interval_s:
                self._last[side] = now
                pane.status.value = f"{pane.tokens} tokens…"
                pane.show()

    # ---- final state -------------------------------------------------------------------------
    def finish(self, result) -> None:
        self.result = result
        self.local_pane.text, self.local_pane.tokens = result.local.answer, len(result.local.tokens)
        self.local_pane.show()
        self.local_pane.status.value = "interrupted (partial answer)" if result.local.interrupted else "done"
        self._finish_cloud(result)
        cloud_stats = result.cloud.cloud if result.cloud else None
        self.metrics.value = metrics_html(result.local.local, cloud_stats)
        self.timeline.value = CARD_STYLE + timeline_svg(provenance_bundle(compare_record(result), window=self.window))
        self.would.value = would_html(result, explain=self.explain)
        if result.cloud is not None:
            self.diff.value = word_diff_html(shown(result.local.answer), shown(result.cloud.answer))
            self.diff_toggle.disabled = False
        for button in self.vote_buttons:
            button.disabled = False

    def _finish_cloud(self, result) -> None:
        side = result.cloud_side
        if side.interrupted:
            self.cloud_pane.status.value = "<b style='color:#c62828'>interrupted (partial answer)</b>"
        elif result.cloud is None:
            self.cloud_pane.status.value = f"<b style='color:#c62828'>{html.escape(side.error or 'no cloud')}</b>"
        else:
            self.cloud_pane.status.value = f"done · {cost_text(result.cloud.cloud.cost_usd)}"
        self.cloud_pane.text = side.text
        self.cloud_pane.show()

    def _show_diff(self, on: bool) -> None:
        self.diff.layout.display = None if on else "none"

    def vote(self, choice: str) -> None:
        if self.result is None or self.on_vote is None:
            return
        self.on_vote(self.result, choice)
        runs = ", ".join(f"#{i}" for i in self.result.run_ids)
        self.vote_status.value = f"<span style='color:#2e7d32'>✓ vote recorded: {choice} (run {runs})</span>"


def would_html(result, *, explain: bool = False) -> str:
    d = result.would
    record = RunRecord("hybrid", d, None, None, "")
    label, color = route_label(record)
    why = html.escape(reason_text(record))
    rows = shown_signals(d.signals, explain)
    table = signal_table(rows) if rows else "<div style='font-size:12px'>no signal triggered</div>"
    return (f"<div class='hm-would'>%%hybrid would have decided: <span style='background:{color};color:white;"
            f"padding:1px 6px;border-radius:3px'>{label}</span> {why}{learned_html(record)}{table}</div>")


def compare_record(result) -> RunRecord:
    """One record for the provenance MIME: route/handoff/signals are what %%hybrid would decide."""
    cloud = result.cloud.cloud if result.cloud else None
    return RunRecord("compare", result.would, result.local.local, cloud, result.local.started_at,
                     tokens=result.local.tokens, error=result.cloud_error, interrupted=result.interrupted,
                     run_id=result.local.run_id)


def compare_bundle(result, view: CompareView | None = None) -> dict:
    record = compare_record(result)
    bundle = provenance_bundle(record, window=view.window if view is not None else Thresholds.window)
    bundle["compare"] = {"hypothetical_route": True, "cloud_sent": result.cloud_side.sent,
                         "cloud_ok": result.cloud is not None, "run_ids": list(result.run_ids)}
    line = summary_line(record).replace("%%compare →", "%%compare · %%hybrid would route:")
    if result.cloud is None:
        line += f" · cloud: {result.cloud_error}"
    out = {"text/plain": line, "text/html": _fallback_html(result) + timeline_svg(bundle), MIME_TYPE: bundle}
    if view is not None:
        out.update(widget_view(view))
    return out


def _fallback_html(result) -> str:
    cloud = result.cloud.answer if result.cloud else f"[{result.cloud_error}]"
    return ("<table class='hm-compare'><tr><th>local</th><th>cloud</th></tr><tr>"
            f"<td>{_PRE.format(html.escape(shown(result.local.answer)))}</td><td>{_PRE.format(html.escape(shown(cloud)))}</td>"
            "</tr></table>")


def latest_compare() -> CompareView | None:
    """The view of the last %%compare cell, e.g. to vote from code: `latest_compare().vote("cloud")`."""
    from IPython import get_ipython

    shell = get_ipython()
    magics = shell.magics_manager.registry.get("HybridMagics") if shell is not None else None
    return getattr(getattr(magics, "views", None), "latest_compare", None)


def start_compare(views, on_vote: Vote, *, interval_s: float, explain: bool,
                  window: int = Thresholds.window) -> CompareView:
    """Show the empty side-by-side view; the run streams into it (it is the RunObserver)."""
    view = CompareView(on_vote, interval_s=interval_s, explain=explain, window=window)
    view.handle = display({"text/plain": "[hybrid_magic] %%compare running…", **widget_view(view)},
                          raw=True, display_id=True)
    views.latest_compare = view
    return view


def finish_compare(view: CompareView, result) -> None:
    """Final panes, metrics and verdict; the output becomes the provenance bundle (never stuck on running)."""
    view.finish(result)
    view.handle.update(compare_bundle(result, view), raw=True)
