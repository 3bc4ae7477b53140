"""Ctrl-C while the first cell imports the model library (torch half imported): later cells work.

Runs in a fresh Python process, since this one has torch imported already. The interrupt
is a real SIGINT, sent the moment torch's C extension is loaded but torch itself is not
(re-importing torch after that point used to crash the process).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = r"""
import os, signal, sys, threading, time

def interrupt_half_way():
    while "torch._C" not in sys.modules:
        time.sleep(0.001)
    os.kill(os.getpid(), signal.SIGINT)

threading.Thread(target=interrupt_half_way, daemon=True).start()
from hybrid_magic.backends import backend_class
try:
    backend_class("transformers")
    print("first import finished")
except KeyboardInterrupt:
    print("first cell interrupted")
assert "torch" in sys.modules, "torch was left half imported"
cls = backend_class("transformers")  # the next cell
import torch
print("next cell:", cls.__name__, int((torch.tensor([2]) * 3).item()))
"""


def test_an_interrupt_during_the_first_torch_import_leaves_later_cells_working():
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-X", "faulthandler", "-c", SCRIPT], capture_output=True, text=True,
                            timeout=300, cwd=root, env={**__import__("os").environ, "PYTHONPATH": str(root)})
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    assert result.stdout.splitlines() == ["first cell interrupted", "next cell: TransformersBackend 6"], result.stdout
