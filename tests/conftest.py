"""Shared fixtures: one converted model, one loaded backend each, one cloud server per session.

The converted model lives in the user's real cache (converted once per machine);
everything else a test writes (ledger, config) goes to a temp HYBRID_MAGIC_HOME.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).parent / "artifacts"  # screenshots and exported files tests keep
SHARED_CACHE = os.environ.get(
    "HYBRID_MAGIC_TEST_CACHE", str(Path.home() / ".cache" / "hybrid_magic" / "models")
)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Ledger and settings in a temp folder; models from the shared cache; no real key."""
    monkeypatch.setenv("HYBRID_MAGIC_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HYBRID_MAGIC_CACHE_DIR", SHARED_CACHE)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path / "home"


@pytest.fixture(scope="session")
def shell():
    """The one real IPython shell of the session (start_ipython returns None once started)."""
    from IPython.testing.globalipapp import get_ipython, start_ipython

    return start_ipython() or get_ipython()


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The embedded SmolLM2 converted to an HF folder (once per machine)."""
    from hybrid_magic.models import resolve

    return Path(resolve("smollm2-135m", SHARED_CACHE).path)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, timeout_s: float = 120.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer in {timeout_s}s")


def start_mlx_server(model_dir: Path, log_path: Path) -> tuple[subprocess.Popen, str]:
    """A real OpenAI-compatible server on 127.0.0.1 (mlx_lm.server); returns (process, base_url)."""
    port = free_port()
    log = open(log_path, "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "mlx_lm", "server", "--model", str(model_dir),
         "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    wait_for_http(f"{base_url}/models", process=process)
    return process, base_url


def stop_process(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def cloud_server(model_dir, tmp_path_factory):
    """mlx_lm.server with the embedded model standing in for the cloud. Yields the base URL."""
    log_path = tmp_path_factory.mktemp("cloud") / "mlx_server.log"
    process, base_url = start_mlx_server(model_dir, log_path)
    try:
        yield base_url
    finally:
        stop_process(process)


@pytest.fixture
def cloud_proxy(cloud_server):
    """A LoopbackProxy (tests/proxy.py) in front of cloud_server: counts, records, misbehaves on request."""
    from proxy import LoopbackProxy

    with LoopbackProxy(cloud_server) as proxy:
        yield proxy
