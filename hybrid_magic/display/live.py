"""A RunObserver that streams the run into the cell output, throttled.

One output holds a text/plain status + answer (for any front end) and, where
widgets render, a live widget: status line and the answer as it streams. Both
are updated at most every `interval_s` seconds (tokens can arrive faster than
a front end redraws, ~10/s is plenty), once more at each phase change, and
replaced in place by the final answer when the run ends.
"""
from __future__ import annotations

import html
import time

from IPython.display import display

from ..types import TokenEvent
from .render import widget_view
from .safe import shown

_PHASE_TEXT = {
    "loading": "loading model",
    "local": "generating locally",
    "handoff": "handing off",
    "cloud": "cloud answering",
    "done": "done",
}


def _live_widget():
    import ipywidgets as widgets

    status = widgets.HTML("<b>[hybrid_magic]</b> starting…")
    answer = widgets.HTML("")
    box = widgets.VBox([status, answer])
    box.add_class("hybrid-magic-live")
    return box, status, answer


class LiveText:
    def __init__(self, interval_s: float = 0.1, enabled: bool = True, use_widget: bool = True):
        self.interval_s = interval_s
        self.enabled = enabled
        self.status = "starting"
        self.local_text = ""
        self.cloud_text = ""
        self.local_tokens = 0
        self.cloud_tokens = 0
        self._last_update = 0.0
        self.widget = self._status = self._answer = None
        if enabled and use_widget:
            self.widget, self._status, self._answer = _live_widget()
        self._handle = display(self._bundle(), raw=True, display_id=True) if enabled else None

    # ---- RunObserver --------------------------------------------------------------
    def phase(self, name: str, detail: str = "") -> None:
        self.status = _PHASE_TEXT.get(name, name) + (f": {detail}" if detail else "")
        self._refresh(force=True)

    def local_token(self, event: TokenEvent) -> None:
        self.local_text += event.text
        self.local_tokens += 1 if event.text or event.token_id is not None else 0
        self._refresh()

    def cloud_token(self, event: TokenEvent) -> None:
        self.cloud_text += event.text
        self.cloud_tokens += 1 if event.text else 0
        self._refresh()

    # ---- rendering ----------------------------------------------------------------
    def progress(self) -> str:
        done = f"{self.status} · local {self.local_tokens} tok"
        return done + (f" · cloud {self.cloud_tokens} tok" if self.cloud_tokens or self.cloud_text else "")

    def head(self) -> str:
        return f"[hybrid_magic] {self.progress()}"

    def text(self) -> str:
        if self.cloud_tokens or self.cloud_text:
            return f"{self.head()}\n{shown(self.cloud_text)}\n\n--- local draft ---\n{shown(self.local_text)}"
        return f"{self.head()}\n{shown(self.local_text)}"

    def _answer_html(self) -> str:
        pre = "<pre style='white-space:pre-wrap;margin:2px 0'>{}</pre>"
        if self.cloud_tokens or self.cloud_text:
            return (pre.format(html.escape(shown(self.cloud_text))) + "<details><summary>local draft</summary>"
                    + pre.format(html.escape(shown(self.local_text))) + "</details>")
        return pre.format(html.escape(shown(self.local_text)))

    def _bundle(self) -> dict:
        bundle = {"text/plain": self.text()}
        if self.widget is not None:
            bundle.update(widget_view(self.widget))
        return bundle

    def _refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if self._handle is None or (not force and now - self._last_update < self.interval_s):
            return
        self._last_update = now
        if self.widget is not None:
            self._status.value = f"<b>[hybrid_magic]</b> {html.escape(self.progress())}"
            self._answer.value = self._answer_html()
        self._handle.update(self._bundle(), raw=True)

    def replace(self, bundle: dict) -> None:
        """Swap the streaming view for the final answer, in place; the live widget is closed."""
        for part in (self._answer, self._status, self.widget):
            if part is not None:
                part.close()
        if self._handle is not None:
            self._handle.update(bundle, raw=True)
        else:
            display(bundle, raw=True)
