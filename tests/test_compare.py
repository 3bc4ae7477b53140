"""%%compare with the real SmolLM2 model locally and a real mlx_lm.server as the cloud."""
from __future__ import annotations

import threading

import pytest
from IPython.utils.capture import capture_output

from hybrid_magic.compare import record_vote, run_compare
from hybrid_magic.display.mime import MIME_TYPE
from hybrid_magic.engine import Engine
from hybrid_magic.ledger import Ledger
from hybrid_magic.magics import HybridMagics
from hybrid_magic.types import DEFAULT_POLICY, GenerationParams, Request

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


class Recorder:
    """A RunObserver that notes which thread each event came from."""

    def __init__(self):
        self.phases, self.local, self.cloud, self.cloud_threads = [], [], [], set()

    def phase(self, name, detail=""):
        self.phases.append(name)

    def local_token(self, event):
        self.local.append(event)

    def cloud_token(self, event):
        self.cloud.append(event)
        self.cloud_threads.add(threading.current_thread().name)


def settings(base_url: str | None, tmp_path):
    from hybrid_magic.config import HybridSettings

    s = HybridSettings(backend="transformers", cloud_model="default_model", cloud_max_retries=0,
                       ledger_path=str(tmp_path / "ledger.sqlite"))
    if base_url:
        s.cloud_base_url = base_url
    return s


def request(prompt: str, **kw) -> Request:
    return Request(magic="compare", prompt=prompt, model="smollm2-135m", backend="transformers",
                   params=GenerationParams(max_tokens=12), cloud_model="default_model", **kw)


def test_run_compare_is_concurrent_records_both_runs_and_votes(cloud_server, tmp_path):
    s = settings(cloud_server, tmp_path)
    engine = Engine(s, Ledger(s.ledger_path))
    observer = Recorder()
    result = run_compare(engine, request("What is the capital of France?", threshold=0.9), observer)
    side = result.cloud_side
    assert side.error is None and side.sent and result.cloud is not None
    assert side.started_s < result.local_finished_s, "the cloud request must not wait for local generation"
    assert observer.cloud_threads == {"hybrid-compare-cloud"} and observer.local and observer.cloud
    assert result.cloud.answer.strip() and result.local.answer.strip()
    assert result.cloud.cloud.host.startswith("127.0.0.1:") and result.cloud.cloud.completion_tokens > 0
    # what %%hybrid would have decided: at a 0.9 knob the default router estimates SmolLM2's answer below it
    assert result.would.policy == DEFAULT_POLICY and result.would.handoff_requested
    assert result.would.route == "cloud" and result.would.reason == DEFAULT_POLICY and result.would.contributions
    assert 1.0 - result.would.score < 0.9
    rows = {r["id"]: r for r in engine.ledger.runs()}
    assert sorted(rows) == sorted(result.run_ids) and {r["magic"] for r in rows.values()} == {"compare"}
    assert {r["route"] for r in rows.values()} == {"local", "cloud"}
    [sent] = engine.ledger.cloud_requests(session_only=True)
    assert sent["run_id"] == result.cloud.run_id and sent["ok"] == 1
    record_vote(engine.ledger, result, "tie")
    assert {r["vote"] for r in engine.ledger.runs()} == {"tie"}


def test_run_compare_keeps_secrets_local(cloud_server, tmp_path):
    s = settings(cloud_server, tmp_path)
    engine = Engine(s, Ledger(s.ledger_path))
    prompt = "My key is sk-proj-Zx8vQ2mN4bT7yR1wK9pL3sD6fG0hJ5cE. Say hi."
    result = run_compare(engine, request(prompt, threshold=0.99), Recorder())
    assert not result.cloud_side.sent and result.cloud is None and "privacy" in result.cloud_error
    assert result.would.handoff_requested and result.would.blocked_by == "privacy"
    assert engine.ledger.cloud_requests() == []


def test_run_compare_with_cloud_server_down(tmp_path):
    from conftest import free_port

    s = settings(f"http://127.0.0.1:{free_port()}/v1", tmp_path)
    engine = Engine(s, Ledger(s.ledger_path))
    result = run_compare(engine, request("Say hi."), Recorder())
    assert result.cloud is None and result.cloud_side.sent and result.cloud_error
    assert result.local.answer.strip() and result.run_ids == [result.local.run_id]
    [failed] = engine.ledger.cloud_requests()
    assert failed["ok"] == 0 and failed["run_id"] == result.local.run_id


@pytest.fixture
def magics(shell, isolated_home):
    instance = HybridMagics(shell=shell)
    instance.backend = "transformers"
    instance.cloud_model = "default_model"
    instance.cloud_max_retries = 0
    shell.register_magics(instance)
    return instance


def test_compare_magic_streams_panes_and_carries_provenance(shell, magics, cloud_server):
    magics.cloud_base_url = cloud_server
    with capture_output() as captured:
        shell.run_cell_magic("compare", "--max-tokens 10 --out both --explain", "Name a colour.")
    [final] = [o for o in captured.outputs if MIME_TYPE in o.data]
    bundle = final.data[MIME_TYPE]
    assert bundle["magic"] == "compare" and bundle["compare"]["cloud_ok"] is True
    assert bundle["cloud"]["host"].startswith("127.0.0.1:") and bundle["local"]["completion_tokens"] > 0
    assert final.data["text/plain"].startswith("[hybrid_magic] %%compare · %%hybrid would route:")
    assert WIDGET_VIEW in final.data and "Name a colour" not in str(bundle)
    timeline = bundle["timeline"]  # both sides: the local tokens and the cloud's span, in the bundle and the HTML
    assert len(timeline["probabilities"]) == bundle["local"]["completion_tokens"]
    assert "hm-tl-series" in final.data["text/html"] and "cloud (in parallel)" in final.data["text/html"]
    assert shell.user_ns["both"].record.magic == "compare"
    assert len(magics.engine.ledger.runs()) == 2


def test_compare_magic_without_cloud_shows_local_and_says_so(shell, magics, monkeypatch):
    magics.cloud_base_url = "https://api.example.invalid/v1"
    with capture_output() as captured:
        shell.run_cell_magic("compare", "--max-tokens 6", "Say hi.")
    [final] = [o for o in captured.outputs if MIME_TYPE in o.data]
    assert "No cloud: No OpenAI API key" in final.data["text/plain"]
    assert final.data[MIME_TYPE]["cloud"] is None and final.data[MIME_TYPE]["local"]["completion_tokens"] > 0
    assert "No OpenAI API key" in final.data["text/html"]


class InterruptAt(Recorder):
    """Ctrl-C as the user would press it: inside local generation, or while the cloud is still answering."""

    def __init__(self, *, at_token: int | None = None, after_local_s: float | None = None):
        super().__init__()
        self.at_token, self.after_local_s = at_token, after_local_s

    def local_token(self, event):
        super().local_token(event)
        if len(self.local) == self.at_token:
            raise KeyboardInterrupt
        if event.is_last and self.after_local_s is not None:  # the main thread is about to wait for the cloud
            threading.Timer(self.after_local_s, self.press_ctrl_c).start()

    def press_ctrl_c(self):
        """SIGINT to the main thread, as a terminal would send it; never once the compare has finished."""
        import signal

        if "done" not in self.phases:
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)


def test_interrupted_during_local_generation_still_audits_the_cloud_request(cloud_proxy, tmp_path):
    s = settings(cloud_proxy.base_url, tmp_path)
    engine = Engine(s, Ledger(s.ledger_path))
    cloud_proxy.delay_s = 2.0
    result = run_compare(engine, request("Name three rivers."), InterruptAt(at_token=3))
    assert result.local.interrupted and result.interrupted and len(result.local.tokens) == 3
    [sent] = engine.ledger.cloud_requests()
    assert sent["run_id"] == result.local.run_id and sent["ok"] == 0, "the request that went out is audited"
    assert result.run_ids == [result.local.run_id]


def test_interrupted_while_waiting_for_the_cloud_keeps_both_partial_answers(cloud_proxy, tmp_path):
    from hybrid_magic.display.compare_view import CompareView, compare_bundle

    s = settings(cloud_proxy.base_url, tmp_path)
    engine = Engine(s, Ledger(s.ledger_path))
    cloud_proxy.delay_s = 300.0  # the cloud is still silent when the local answer is done
    result = run_compare(engine, request("Name three rivers."), InterruptAt(after_local_s=0.5))
    assert not result.local.interrupted and result.cloud_side.interrupted and result.interrupted
    assert result.cloud is None and "Interrupted" in result.cloud_error
    assert len(engine.ledger.runs()) == 1 and len(engine.ledger.cloud_requests()) == 1, "both requests recorded"
    view = CompareView()
    view.finish(result)
    assert "interrupted" in view.cloud_pane.status.value and view.local_pane.text == result.local.answer
    assert compare_bundle(result, view)[MIME_TYPE]["interrupted"] is True
