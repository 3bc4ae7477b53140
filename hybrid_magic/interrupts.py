"""Ctrl-C during a model library's first import is held until the import is done.

An import of torch that is interrupted half way leaves its C extension half
initialised, and importing it again crashes the kernel (a segfault), so every
later cell would fail until a restart. A SIGINT that arrives during the import is
therefore held and raised right after it: the cell stops as interrupted, and the
library is whole for the next cell. Only the main thread receives SIGINT, so
elsewhere nothing needs holding.
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager


@contextmanager
def interrupt_after():
    """Run the block with SIGINT held; a Ctrl-C received meanwhile is raised when the block ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt
