"""Shared fixtures: one converted model, one loaded backend each, one cloud server per session.

The converted model lives in the user's real cache (converted once per machine);
everything else a test writes (ledger, config) goes to a temp HYBRID_MAGIC_HOME.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from hybrid_magic.standin import free_port  # noqa: F401  (tests import it from here)

ARTIFACTS = Path(__file__).parent / "artifacts"  # screenshots and exported files tests keep
SHARED_CACHE = os.environ.get(
    "HYBRID_MAGIC_TEST_CACHE", str(Path.home() / ".cache" / "hybrid_magic" / "models")
)


@pytest.fixture(scope="module", autouse=True)
def registered_policies():
    """Policies a test module registers (fit_policy does) are gone after it: others see only the built-in ones."""
    from hybrid_magic.router.policy import POLICIES

    before = dict(POLICIES)
    yield
    POLICIES.clear()
    POLICIES.update(before)


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


@pytest.fixture(scope="session")
def cloud_server(model_dir, tmp_path_factory):
    """mlx_lm.server with the embedded model standing in for the cloud. Yields the base URL."""
    from hybrid_magic.standin import stand_in_cloud

    with stand_in_cloud(model_dir, tmp_path_factory.mktemp("cloud") / "mlx_server.log") as base_url:
        yield base_url


@pytest.fixture
def cloud_proxy(cloud_server):
    """A LoopbackProxy (tests/proxy.py) in front of cloud_server: counts, records, misbehaves on request."""
    from proxy import LoopbackProxy

    with LoopbackProxy(cloud_server) as proxy:
        yield proxy


@pytest.fixture
def magics(shell, isolated_home):
    """A fresh HybridMagics (fresh settings and ledger) per test on transformers, no cloud configured;
    loaded models are shared. Test modules that need another setup define their own."""
    from hybrid_magic.magics import HybridMagics

    instance = HybridMagics(shell=shell)
    instance.backend = "transformers"
    shell.register_magics(instance)
    return instance


@pytest.fixture
def cloud_magics(shell, isolated_home, cloud_proxy, monkeypatch):
    """HybridMagics on the real shell, its cloud the stand-in server behind the counting proxy."""
    from hybrid_magic.magics import HybridMagics

    monkeypatch.setenv("OPENAI_BASE_URL", cloud_proxy.base_url)
    monkeypatch.setenv("HYBRID_MAGIC_CLOUD_MODEL", "default_model")
    instance = HybridMagics(shell=shell)
    instance.backend = "transformers"
    shell.register_magics(instance)
    return instance
