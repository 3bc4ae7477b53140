"""%%local through a real IPython shell and the real SmolLM2 model (transformers backend)."""
from __future__ import annotations

import json
import os
import signal
import sys

import pytest
from IPython.utils.capture import capture_output

from hybrid_magic import backends
from hybrid_magic.display.mime import MIME_TYPE

PARIS = "What is the capital of France?"


def run(shell, line: str, cell: str | None):
    with capture_output() as captured:
        if cell is None:
            shell.run_line_magic(line.split()[0], " ".join(line.split()[1:]))
        else:
            shell.run_cell_magic(line.split()[0], " ".join(line.split()[1:]), cell)
    return captured


def bundles(captured) -> list[dict]:
    return [o.data[MIME_TYPE] for o in captured.outputs if MIME_TYPE in o.data]


def final_answer(captured) -> str:
    """The last plain-text output before the card: the answer."""
    texts = [o.data["text/plain"] for o in captured.outputs if MIME_TYPE not in o.data]
    return texts[-1]


def test_local_streams_answers_and_emits_provenance(shell, magics):
    captured = run(shell, "local --max-tokens 12", PARIS)
    assert "Paris" in final_answer(captured)
    streamed = [o for o in captured.outputs if "generating locally" in str(o.data.get("text/plain"))]
    assert len(streamed) >= 2, "the answer should stream in before the final output"
    [bundle] = bundles(captured)
    assert bundle["version"] == 2 and bundle["route"] == "local" and bundle["cloud"] is None
    assert bundle["handoff"] == {"requested": False, "performed": False, "blocked_by": None, "stage": None,
                                 "reason": None}
    assert bundle["local"]["backend"] == "transformers" and bundle["local"]["completion_tokens"] > 0
    text = json.dumps(bundle)
    assert "capital" not in text and "Paris" not in text, "no prompt or answer text in the bundle"
    card = [o for o in captured.outputs if MIME_TYPE in o.data][0]
    assert card.data["text/plain"].startswith("[hybrid_magic] %%local → local")


def test_second_cell_reuses_the_loaded_model(shell, magics):
    run(shell, "local --max-tokens 2", "Hi")
    loads = backends.load_count
    captured = run(shell, "local --max-tokens 2", "Hello")
    assert backends.load_count == loads
    assert bundles(captured)[0]["local"]["completion_tokens"] >= 1


def test_interpolation_out_and_format(shell, magics):
    shell.user_ns["country"] = "France"
    run(shell, "local --max-tokens 12 --out result", "What is the capital of {country}? {unknown} {{x}}")
    result = shell.user_ns["result"]
    assert "Paris" in result.text
    assert result.record.local.completion_tokens == len(result.tokens)
    assert all(t.logprob is not None and t.logprob <= 0 for t in result.tokens)
    rows = magics.engine.ledger.runs()
    assert "{unknown} {x}" in rows[0]["prompt_redacted"] and "France" in rows[0]["prompt_redacted"]
    captured = run(shell, "local --max-tokens 40 --format json",
                   'Return a JSON object with keys "city" and "country" for the Eiffel Tower.')
    answer = [o for o in captured.outputs if "text/markdown" in o.data][-1].data["text/markdown"]
    fence = answer.split("json\n", 1)[0]  # longer than any backtick run in the answer (which may hold ```)
    assert set(fence) == {"`"} and len(fence) >= 3 and answer.rstrip().endswith(fence)


def test_same_seed_same_text(shell, magics):
    line = "local --max-tokens 10 --temperature 1.2 --seed 7 --out a"
    run(shell, line, "Name a colour.")
    run(shell, line.replace("--out a", "--out b"), "Name a colour.")
    assert shell.user_ns["a"].text == shell.user_ns["b"].text


def test_chat_continues_and_resets(shell, magics):
    run(shell, "local --max-tokens 8 --chat", "My name is Ada.")
    assert len(magics.chat_history) == 2
    run(shell, "local --max-tokens 8 --chat", "What is my name?")
    assert len(magics.chat_history) == 4 and magics.chat_history[2]["content"] == "What is my name?"
    captured = run(shell, "local reset", None)
    assert magics.chat_history == [] and "cleared" in captured.stdout


@pytest.mark.parametrize("line, cell, expected", [
    ("local --nope", PARIS, "unrecognized arguments: --nope"),
    ("local", "   \n", "cell is empty"),
    ("local -m no-such-model", PARIS, "Unknown model 'no-such-model'"),
    ("local -m ./missing/folder", PARIS, "does not exist"),
    ("local --temperature -1", PARIS, "--temperature must be >= 0"),
    ("local --max-tokens 0", PARIS, "--max-tokens must be at least 1"),
    ("local --top-p 1.5", PARIS, "--top-p must be in (0, 1]"),
    ("local --backend nope", PARIS, "invalid choice"),
])
def test_bad_input_is_one_line_without_traceback(shell, magics, line, cell, expected):
    captured = run(shell, line, cell)
    lines = [x for x in captured.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("hybrid_magic:"), captured.stderr
    assert expected in lines[0]
    assert "Traceback" not in captured.stderr + captured.stdout
    assert not bundles(captured)


def test_mlx_missing_says_which_extra(shell, magics, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlx_lm", None)  # import mlx_lm now raises ImportError
    monkeypatch.delitem(sys.modules, "hybrid_magic.backends.mlx", raising=False)
    monkeypatch.setattr(backends, "_loaded", {})
    captured = run(shell, "local --backend mlx --max-tokens 2", PARIS)
    assert "hybrid_magic[mlx]" in captured.stderr and "Traceback" not in captured.stderr


def test_prompt_longer_than_context(shell, magics):
    captured = run(shell, "local --max-tokens 4 --no-interpolate", "word " * 9000)
    assert "hybrid_magic:" in captured.stderr and "tokens but" in captured.stderr
    assert not bundles(captured)


def test_an_interrupt_in_the_after_stage_keeps_the_finished_answer_and_its_record(shell, magics, monkeypatch):
    """The after-stage may run the model again (self-check here, hidden states for a learned policy):
    Ctrl-C there keeps the answer already streamed, its card and its ledger row."""
    import hybrid_magic.selfcheck as selfcheck

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(selfcheck, "probability_correct", interrupted)
    magics.self_check = True
    with capture_output() as captured, pytest.raises(KeyboardInterrupt):
        shell.run_cell_magic("hybrid", "--private --max-tokens 12", "What is the capital of Germany?")
    assert "Berlin" in final_answer(captured)
    [bundle] = bundles(captured)
    assert bundle["interrupted"] is True and bundle["route"] == "local" and bundle["local"]["completion_tokens"] > 0
    assert magics.engine.ledger.runs()[0]["interrupted"] == 1


def test_interrupt_keeps_partial_answer(shell, magics, monkeypatch):
    from hybrid_magic.display import live

    seen = {"n": 0}
    original = live.LiveText.local_token

    def interrupt_on_third(self, event):
        original(self, event)
        seen["n"] += 1
        if seen["n"] == 3:
            os.kill(os.getpid(), signal.SIGINT)  # a real SIGINT, as the kernel's interrupt sends

    monkeypatch.setattr(live.LiveText, "local_token", interrupt_on_third)
    with capture_output() as captured, pytest.raises(KeyboardInterrupt):
        shell.run_cell_magic("local", "--max-tokens 40", "Count from one to twenty in words.")
    answer = final_answer(captured)
    assert "[interrupted: partial answer]" in answer and len(answer.split("\n")[0]) > 0
    [bundle] = bundles(captured)
    assert bundle["interrupted"] is True and bundle["local"]["completion_tokens"] < 40
    assert magics.engine.ledger.runs()[0]["interrupted"] == 1
