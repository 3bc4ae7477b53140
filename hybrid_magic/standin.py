"""A stand-in cloud: a real `mlx_lm.server` with the embedded model on 127.0.0.1.

Used by the demo (when no OPENAI_API_KEY is set) and by benchmarks, so both run
offline against a real OpenAI-compatible server. It is clearly labelled: its
model is called "default_model" and its host is loopback.
"""
from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

STAND_IN_MODEL = "default_model"  # mlx_lm.server's name for the model it was started with


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def stand_in_cloud(model_dir: str | Path, log_path: str | Path, timeout_s: float = 180.0):
    """Start the server, wait until it answers, yield its base URL, stop it."""
    port = free_port()
    with open(log_path, "w") as log:
        server = subprocess.Popen([sys.executable, "-m", "mlx_lm", "server", "--model", str(model_dir),
                                   "--host", "127.0.0.1", "--port", str(port)],
                                  stdout=log, stderr=subprocess.STDOUT)
        base_url = f"http://127.0.0.1:{port}/v1"
        try:
            _wait(f"{base_url}/models", server, timeout_s)
            yield base_url
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _wait(url: str, process: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the stand-in cloud exited early ({process.returncode}); see its log")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"the stand-in cloud did not answer at {url}")
