"""A cloud that misbehaves, through the real shell: the local answer stays, the card says why,
and the ledger has the run and the request (so `%hybrid audit` lists it).

The misbehaving server is tests/proxy.py's LoopbackProxy serving scripted SSE lines.
"""
from __future__ import annotations

import itertools

import pytest
from IPython.utils.capture import capture_output
from test_cloud import MALFORMED, sse

from hybrid_magic.display.mime import MIME_TYPE

from test_hybrid import HARD, hybrid, make_engine

FAULTS = {  # label -> (SSE lines, seconds between lines, words on the card)
    **{f"malformed: {label}": (lines, 0.0, "malformed") for label, lines in MALFORMED.items()},
    "keep-alives forever": (itertools.repeat(": keep-alive"), 0.05, "cloud_deadline_s=1s"),
    "tokens forever, slowly": (itertools.repeat(sse({"content": "la"})), 0.2, "cloud_deadline_s=1s"),
}


def run_cell(shell, options: str, prompt: str):
    with capture_output() as captured:
        shell.run_cell_magic("hybrid", options, prompt)
    return captured


@pytest.mark.parametrize("label", FAULTS)
def test_a_misbehaving_cloud_keeps_the_local_answer_and_a_record(shell, cloud_magics, cloud_proxy, label):
    lines, interval_s, words = FAULTS[label]
    cloud_magics.cloud_deadline_s = 1.0
    cloud_proxy.serve_next(lines, interval_s)
    captured = run_cell(shell, "--cloud --max-tokens 8", "What is the capital of France?")
    assert "Traceback" not in captured.stderr + captured.stdout, captured.stderr
    [card] = [o.data for o in captured.outputs if MIME_TYPE in o.data]
    answer = [o.data["text/plain"] for o in captured.outputs if MIME_TYPE not in o.data][-1]
    assert answer.strip() and "cloud answering" not in answer, "the local answer is shown"
    assert card[MIME_TYPE]["handoff"]["blocked_by"] == "cloud_error" and words in card["text/html"]
    ledger = cloud_magics.engine.ledger
    [run], [request] = ledger.runs(), ledger.cloud_requests()
    assert words in run["error"] and request["ok"] == 0 and request["run_id"] == run["id"]
    audit = run_cell_line(shell, "audit")
    assert audit.startswith("1 request(s) left this machine") and "FAILED" in audit and words in audit


def run_cell_line(shell, text: str) -> str:
    with capture_output() as captured:
        shell.run_line_magic("hybrid", text)
    return captured.outputs[0].data["text/plain"]


class InterruptOnCloudToken:
    """Ctrl-C landing while the display shows the cloud's first token."""

    def phase(self, name, detail=""):
        pass

    def local_token(self, event):
        pass

    def cloud_token(self, event):
        raise KeyboardInterrupt


def test_an_interrupted_cloud_request_is_not_recorded_ok(cloud_proxy, isolated_home):
    engine = make_engine(cloud_proxy.base_url, isolated_home)
    record = engine.run_hybrid(hybrid(HARD, 12, force_cloud=True), InterruptOnCloudToken())
    assert record.interrupted
    [request] = engine.ledger.cloud_requests()
    assert request["ok"] == 0 and "interrupted" in request["error"]
