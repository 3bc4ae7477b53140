"""`%hybrid status | history | budget | reset` on a real shell, after real %%hybrid cells."""
from __future__ import annotations

from IPython.utils.capture import capture_output

from hybrid_magic.display.mime import MIME_TYPE

EASY = "What is the capital of France?"


def line(shell, text: str):
    with capture_output() as captured:
        shell.run_line_magic("hybrid", text)
    return captured


def cell(shell, options: str, prompt: str) -> dict:
    with capture_output() as captured:
        shell.run_cell_magic("hybrid", options, prompt)
    [bundle] = [o.data[MIME_TYPE] for o in captured.outputs if MIME_TYPE in o.data]
    return bundle


def test_status_history_budget_and_reset(shell, cloud_magics, cloud_proxy):
    cloud_magics.prices = {"default_model": [1.0, 2.0]}  # USD per 1M tokens: the stand-in gets a price
    assert cell(shell, "--max-tokens 8", EASY)["route"] == "local"
    forced = cell(shell, "--max-tokens 8 --cloud", EASY)
    assert forced["route"] == "cloud" and forced["cloud"]["cost_usd"] > 0

    status = line(shell, "status").stdout
    assert "runs this session: 2 · local 1 · cloud 1" in status
    spend = cloud_magics.engine.ledger.session_spend()
    assert f"cloud spend: ${spend:.6f}" in status and "spend avoided vs all-cloud" in status

    history = line(shell, "history").stdout.splitlines()
    assert len(history) == 2 and "local answer accepted" in history[0] and "forced_cloud" in history[1]

    assert "set to $0.0000" in line(shell, "budget 0.00000001").stdout
    blocked = cell(shell, "--max-tokens 8 --cloud", EASY)
    assert blocked["handoff"]["blocked_by"] == "budget" and cloud_proxy.request_count == 1

    assert "New session" in line(shell, "reset").stdout
    assert "runs this session: 0" in line(shell, "status").stdout


def test_bad_subcommands_are_one_line(shell, cloud_magics):
    for text, expected in [("", "needs a subcommand"), ("nope", "Unknown %hybrid subcommand 'nope'"),
                           ("budget lots", "takes a number of USD"), ("budget -1", "must be >= 0")]:
        captured = line(shell, text)
        lines = [x for x in captured.stderr.splitlines() if x.strip()]
        assert len(lines) == 1 and expected in lines[0] and lines[0].startswith("hybrid_magic:"), captured.stderr
