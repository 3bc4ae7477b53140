"""When to send a cloud request again: the server's Retry-After, else exponential backoff;
and a requests-per-minute limit shared by every thread that sends.

Pure timing logic with no SDK calls, so CloudClient's retry loop and the
experiments' request pool (cloud_pool.py) wait by the same rule.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from email.utils import parsedate_to_datetime

MAX_WAIT_S = 60.0  # a Retry-After longer than this is capped: the caller's retries stay bounded


def retry_delay_s(error: BaseException, attempt: int, backoff_s: float) -> float:
    """Seconds to wait before retry `attempt + 1`: Retry-After when the answer carries it."""
    told = retry_after_s(getattr(getattr(error, "response", None), "headers", None) or {})
    return min(told, MAX_WAIT_S) if told is not None else backoff_s * 2**attempt


def retry_after_s(headers, now: Callable[[], float] = time.time) -> float | None:
    """`retry-after-ms`, or `Retry-After` in seconds or as an HTTP date; None when absent or unreadable."""
    millis = headers.get("retry-after-ms")
    try:
        if millis is not None:
            return max(float(millis) / 1000, 0.0)
        value = headers.get("retry-after")
        if value is None:
            return None
        if value.strip().replace(".", "", 1).isdigit():
            return float(value)
        return max(parsedate_to_datetime(value).timestamp() - now(), 0.0)
    except (TypeError, ValueError):
        return None


class RateLimit:
    """At most `per_minute` starts in any 60-second window; `wait()` blocks until one is allowed.

    None or 0 means no limit. Thread-safe: one instance is shared by a pool's workers.
    """

    def __init__(self, per_minute: float | None, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if per_minute is not None and per_minute < 0:
            raise ValueError(f"requests_per_minute must be positive or None, got {per_minute}")
        self.per_minute = per_minute or None
        self._clock, self._sleep = clock, sleep
        self._starts: deque[float] = deque()
        self._lock = threading.Lock()

    def wait(self) -> None:
        while (pause := self._reserve()) > 0:
            self._sleep(pause)

    def _reserve(self) -> float:
        """Take a slot now (returns 0), or say how long until the oldest start leaves the window."""
        if self.per_minute is None:
            return 0.0
        with self._lock:
            now = self._clock()
            while self._starts and now - self._starts[0] >= 60.0:
                self._starts.popleft()
            if len(self._starts) < self.per_minute:
                self._starts.append(now)
                return 0.0
            return 60.0 - (now - self._starts[0])
