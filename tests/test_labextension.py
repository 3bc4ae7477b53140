"""The JupyterLab extension (labextension/): JS unit tests, the build hook,
and the real-browser test (JupyterLab + chromium via playwright-core)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "labextension"


def _load_build_hook():
    spec = importlib.util.spec_from_file_location("hybrid_magic_build_hook", LAB / "build_hook.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(args: list[str], timeout: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=LAB, capture_output=True, text=True, timeout=timeout)


def _tail(result: subprocess.CompletedProcess[str]) -> str:
    return (result.stdout + result.stderr)[-4000:]


@pytest.fixture(scope="module")
def node_modules() -> Path:
    if not (LAB / "node_modules").is_dir():
        result = _run(["npm", "ci", "--no-audit", "--no-fund"], timeout=600)
        assert result.returncode == 0, _tail(result)
    return LAB / "node_modules"


@pytest.fixture(scope="module")
def built_extension(node_modules: Path) -> Path:
    hook = _load_build_hook()
    if not hook._is_current():
        result = _run(["npm", "run", "build:prod"], timeout=600)
        assert result.returncode == 0, _tail(result)
    assert hook.MARKER.is_file()
    return hook.OUTPUT


def test_js_unit_tests_pass(node_modules: Path) -> None:
    result = _run(["npm", "test"], timeout=300)
    assert result.returncode == 0, _tail(result)
    assert "# fail 0" in result.stdout and "# pass 0" not in result.stdout


def test_build_without_node_installs_python_package_with_a_warning(tmp_path, monkeypatch) -> None:
    hook = _load_build_hook()
    monkeypatch.setattr(hook, "OUTPUT", tmp_path / "labextension")
    monkeypatch.setattr(hook, "MARKER", tmp_path / "labextension" / "build-complete.json")
    monkeypatch.setenv("PATH", str(tmp_path))  # no node, no npm
    monkeypatch.delenv("HYBRID_MAGIC_REQUIRE_LABEXTENSION", raising=False)
    with pytest.warns(UserWarning, match="JupyterLab extension NOT built.*node and npm were not found"):
        hook.build_labextension("wheel", "standard")
    assert not hook.OUTPUT.exists()
    monkeypatch.setenv("HYBRID_MAGIC_REQUIRE_LABEXTENSION", "1")
    with pytest.raises(RuntimeError, match="NOT built"):
        hook.build_labextension("wheel", "standard")


def test_prebuilt_extension_is_complete(built_extension: Path) -> None:
    package = (built_extension / "package.json").read_text()
    assert '"name": "hybrid-magic"' in package
    assert (built_extension / "static" / "style.js").is_file()
    assert list((built_extension / "static").glob("remoteEntry.*.js"))


@pytest.mark.slow
def test_jupyterlab_shows_saved_and_live_provenance(built_extension: Path, tmp_path: Path) -> None:
    env_timeout = int(os.environ.get("HYBRID_MAGIC_BROWSER_TIMEOUT_S", "600"))
    result = _run(["node", "ui-tests/lab.test.mjs"], timeout=env_timeout)
    assert result.returncode == 0, _tail(result)
    assert "saved notebook: OK" in result.stdout
    assert "live %%local run: OK" in result.stdout
    assert (ROOT / "tests" / "artifacts" / "lab" / "saved-dark.png").is_file()
    from cards import CARDS, side_by_side  # the lab card beside the widget and HTML cards (test_card_design)

    assert (CARDS / "lab-light.png").is_file() and (CARDS / "lab-dark.png").is_file()
    assert side_by_side(tmp_path).is_file()


def _load_ext_output(shell) -> str:
    """What `%load_ext hybrid_magic` prints (called directly: the session shell may have it loaded)."""
    import hybrid_magic
    from IPython.utils.capture import capture_output

    with capture_output() as captured:
        hybrid_magic.load_ipython_extension(shell)
    return captured.stdout


def test_load_ext_says_in_one_line_when_lab_will_not_load_the_extension(shell, tmp_path, monkeypatch):
    from hybrid_magic import _lab

    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    assert _load_ext_output(shell) == "", "outside a Jupyter server's kernel (terminal, nbclient) nothing is said"
    monkeypatch.setenv("JPY_SESSION_NAME", str(tmp_path / "analysis.ipynb"))
    assert _lab.labextension_installed(), "this environment has the extension (scripts/install.sh builds it)"
    assert _load_ext_output(shell) == ""
    labconfig = tmp_path / "config" / "labconfig"
    labconfig.mkdir(parents=True)
    (labconfig / "page_config.json").write_text('{"disabledExtensions": {"hybrid-magic": true}}')
    assert _load_ext_output(shell) == _lab.DISABLED + "\n"
    import jupyter_core.paths

    monkeypatch.setattr(jupyter_core.paths, "jupyter_path", lambda *parts: [str(tmp_path / "empty")])
    assert _load_ext_output(shell) == _lab.NOT_INSTALLED + "\n"
    assert "jupyter labextension list" in _lab.NOT_INSTALLED
