"""A RunObserver that streams the answer into the cell output, throttled.

One display handle is updated at most every `interval_s` seconds (tokens can
arrive faster than a front end redraws), and once more at the end.
"""
from __future__ import annotations

import time

from IPython.display import display

from ..types import TokenEvent

_PHASE_TEXT = {
    "loading": "loading model",
    "local": "generating locally",
    "handoff": "handing off",
    "cloud": "cloud answering",
    "done": "done",
}


class LiveText:
    def __init__(self, interval_s: float = 0.1, enabled: bool = True):
        self.interval_s = interval_s
        self.enabled = enabled
        self.status = "starting"
        self.local_text = ""
        self.cloud_text = ""
        self.local_tokens = 0
        self.cloud_tokens = 0
        self._last_update = 0.0
        self._handle = display({"text/plain": "[hybrid_magic] starting…"}, raw=True, display_id=True) \
            if enabled else None

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
    def text(self) -> str:
        head = f"[hybrid_magic] {self.status} · local {self.local_tokens} tok"
        if self.cloud_tokens or self.cloud_text:
            head += f" · cloud {self.cloud_tokens} tok"
            return f"{head}\n{self.cloud_text}\n\n--- local draft ---\n{self.local_text}"
        return f"{head}\n{self.local_text}"

    def _refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if self._handle is None or (not force and now - self._last_update < self.interval_s):
            return
        self._last_update = now
        self._handle.update({"text/plain": self.text()}, raw=True)

    def replace(self, bundle: dict) -> None:
        """Swap the streaming text for the final answer, in place."""
        if self._handle is not None:
            self._handle.update(bundle, raw=True)
        else:
            display(bundle, raw=True)
