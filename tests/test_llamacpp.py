"""What only the llama.cpp backend has, on the real embedded GGUF: no conversion, the transformers tokenizer's
prompt ids, the context limit, its cache, the auto rule, the magics. The backend contract it shares with
the others (confidence, sampling, stopping, interrupts, timings) is tested in test_backends.py.

One backend is loaded per session through the registry; prompts are short and
max_tokens small: the CPU is shared.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from IPython.utils.capture import capture_output

from hybrid_magic import backends as registry
from hybrid_magic.display.mime import MIME_TYPE
from hybrid_magic.errors import UsageError
from hybrid_magic.models import ResolvedModel, resolve
from hybrid_magic.types import GenerationParams
from streams import CountingModel, run as _run, text as _text, token_events as _token_events

# llama.cpp runs the Q4_1 weights with 8-bit activations: "capital of France" is a near tie there
# (first token "L" -1.88 vs "The" -1.97), so the answers checked here are ones it gets right.
CAPITAL = [{"role": "user", "content": "What is the capital of Germany?"}]
POEM = [{"role": "user", "content": "Write a long poem about the sea."}]
AGREEMENT_PROMPTS = [
    CAPITAL,
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "user", "content": "Name three primary colors."}],
    [{"role": "system", "content": "Answer in one short sentence."},
     {"role": "user", "content": "Why is the sky blue?"}],
    [{"role": "user", "content": "What is 12 plus 7?"}],
]


@pytest.fixture(scope="session")
def gguf_model() -> ResolvedModel:
    return resolve("smollm2-135m", "/nonexistent-cache", convert=False)


@pytest.fixture(scope="session")
def backend(gguf_model):
    loaded, _ = registry.get_backend("llamacpp", gguf_model)
    return loaded


def test_embedded_model_runs_from_the_gguf_without_conversion(gguf_model, tmp_path, backend):
    resolved = resolve("smollm2-135m", tmp_path, convert=False)
    assert resolved.path.endswith("SmolLM2-135M-Instruct.Q4_1.gguf") and resolved.kind == "embedded"
    assert list(tmp_path.iterdir()) == []  # nothing converted, nothing cached
    assert backend.model.path == resolved.path and backend.context_length == 8192


def test_prompt_tokens_match_the_transformers_tokenizer(backend, model_dir):
    """The GGUF's template rendered here gives the very ids transformers' tokenizer gives."""
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(str(model_dir))
    for messages in AGREEMENT_PROMPTS:
        expected = reference.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        expected = expected["input_ids"] if hasattr(expected, "keys") else expected
        assert backend.tokenizer.apply_chat_template(messages, add_generation_prompt=True) == list(expected)


def test_greedy_answers_agree_with_transformers(backend, model_dir):
    """Q4_1 weights run as is (llama.cpp, 8-bit activations) or dequantised to fp32 (transformers).

    Near ties can flip (see CAPITAL), so most answers, not all, match token for token; where they
    match, each chosen token's logprob matches too.
    """
    reference, _ = registry.get_backend("transformers", ResolvedModel("smollm2-135m", str(model_dir), "embedded"))
    pairs = [(_token_events(_run(backend, m, max_tokens=16)), _token_events(_run(reference, m, max_tokens=16)))
             for m in AGREEMENT_PROMPTS]
    same = [(ours, theirs) for ours, theirs in pairs if [e.token_id for e in ours] == [e.token_id for e in theirs]]
    gaps = [abs(a.logprob - b.logprob) for ours, theirs in same for a, b in zip(ours, theirs)]
    print(f"greedy answers identical to transformers: {len(same)}/{len(pairs)}; "
          f"largest logprob gap on them {max(gaps):.3f} nats")
    assert len(same) * 2 > len(pairs) and max(gaps) < 0.3


def test_answer_stops_at_the_end_of_the_context(backend):
    filler = [{"role": "user", "content": "word " * 8150}]
    room = backend.context_length - backend.count_prompt_tokens(filler)
    assert 0 < room < 40
    events = _run(backend, filler, max_tokens=200)
    assert events[-1].finish_reason in ("length", "stop") and len(_token_events(events)) <= room


def test_interrupted_decode_leaves_a_usable_cache(backend, monkeypatch):
    expected = _text(_run(backend, CAPITAL, max_tokens=8))
    with monkeypatch.context() as patch:
        patch.setattr(backend.llm, "eval", CountingModel(backend.llm.eval, fail_at=3))
        _run(backend, POEM, max_tokens=50)
    assert _text(_run(backend, CAPITAL, max_tokens=8)) == expected


def test_generate_batch_gives_each_conversation_its_stream(backend):
    rows = list(backend.generate_batch([CAPITAL, POEM], GenerationParams(max_tokens=6), batch_size=4))
    assert [row.index for row in rows] == [0, 1]
    assert _text(rows[0].events) == _text(_run(backend, CAPITAL, max_tokens=6))
    assert rows[1].events[-1].finish_reason == "length" and len(rows[1].elapsed) == len(rows[1].events)


def test_tools_reach_a_template_that_renders_them(backend, monkeypatch):
    assert backend.supports_tools() is False  # SmolLM2's own template has no tools
    monkeypatch.setattr(backend.tokenizer, "chat_template",
                        "{% for t in tools or [] %}Tool: {{ t['function']['name'] }}\n{% endfor %}"
                        "{% for m in messages %}{{ m['content'] }}{% endfor %}")
    tool = {"type": "function", "function": {"name": "handoff", "parameters": {"type": "object"}}}
    assert backend.supports_tools() is True
    rendered = backend.tokenizer.apply_chat_template(CAPITAL, tokenize=False, tools=[tool])
    assert rendered == "Tool: handoff\nWhat is the capital of Germany?"


def test_hidden_states_are_declared_missing(backend):
    assert backend.supports_hidden_states() is False


def test_a_model_folder_is_refused_in_one_line(model_dir):
    with pytest.raises(UsageError, match="runs GGUF files.*--backend transformers"):
        registry.get_backend("llamacpp", ResolvedModel("my-folder", str(model_dir), "folder"))


def test_auto_picks_llamacpp_for_a_gguf_only(model_dir):
    assert registry.auto_backend("smollm2-135m") == "llamacpp"
    assert registry.auto_backend(str(model_dir)) in ("transformers", "mlx")


def test_experiment_records_then_replays(backend, tmp_path):
    """Experiment on llama.cpp: the GGUF as is; a second run reads the store only."""
    from hybrid_magic.experiments import Experiment

    items = [{"id": "germany", "prompt": "What is the capital of Germany?", "reference": "Berlin"},
             {"id": "sum", "prompt": "What is 2 + 3? Answer with the number only.", "reference": 5,
              "scorer": "numeric"}]
    store = tmp_path / "exp.sqlite"
    first = Experiment(items, backend="llamacpp", max_tokens=8, self_check=False, store=str(store))
    table = first.run(progress=False)
    assert first.computed["local"] == 2 and {r.local["backend"] for r in first.recorded()} == {"llamacpp"}
    again = Experiment(items, backend="llamacpp", max_tokens=8, self_check=False, store=str(store))
    assert again.run(progress=False).equals(table) and again.computed["local"] == 0
    assert len(again.sweep("cascade")) > 0


# ---- through the magics ------------------------------------------------------------------

def _cell(shell, line: str, cell: str):
    with capture_output() as captured:
        shell.run_cell_magic(line.split()[0], " ".join(line.split()[1:]), cell)
    return captured


def _bundle(captured) -> dict:
    [bundle] = [o.data[MIME_TYPE] for o in captured.outputs if MIME_TYPE in o.data]
    return bundle


def test_local_cell_runs_on_llamacpp_and_says_so(shell, cloud_magics, backend):
    captured = _cell(shell, "local --backend llamacpp --max-tokens 12", "What is the capital of Germany?")
    bundle = _bundle(captured)
    assert bundle["route"] == "local" and bundle["local"]["backend"] == "llamacpp"
    assert bundle["local"]["completion_tokens"] > 0 and "Berlin" not in json.dumps(bundle)
    answers = [o.data["text/plain"] for o in captured.outputs if MIME_TYPE not in o.data]
    assert "Berlin" in answers[-1]
    card = [o for o in captured.outputs if MIME_TYPE in o.data][0]
    assert "(llamacpp)" in card.data["text/plain"]


def test_hybrid_cell_hands_off_early_on_llamacpp(shell, cloud_magics, cloud_proxy, backend):
    captured = _cell(shell, "hybrid --backend llamacpp --max-tokens 48 --threshold 0.95",
                     "Write a limerick about the prime number 7919.")
    bundle = _bundle(captured)
    assert bundle["route"] == "cloud" and bundle["handoff"]["stage"] == "during"
    assert bundle["local"]["backend"] == "llamacpp" and bundle["local"]["stopped_early"] is True
    assert bundle["local"]["completion_tokens"] < 48 and cloud_proxy.request_count == 1


def test_local_cell_prompt_over_the_context_is_one_line(shell, cloud_magics, backend):
    captured = _cell(shell, "local --backend llamacpp --max-tokens 4 --no-interpolate", "word " * 9000)
    lines = [x for x in captured.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("hybrid_magic:") and "tokens but" in lines[0]


BLOCKED_IMPORT = """
import sys
sys.modules["llama_cpp"] = None  # as if the extra were not installed
from hybrid_magic import backends
from hybrid_magic.errors import BackendUnavailableError
print(backends.auto_backend("smollm2-135m"))
try:
    backends.backend_class("llamacpp")
except BackendUnavailableError as error:
    print(error)
"""


BROKEN_LIBRARY = """
import sys
class Broken:  # installed, but its shared library fails to load, as a wrong build or a missing libgomp would
    def find_spec(self, name, path=None, target=None):
        if name == "llama_cpp":
            raise OSError("libllama.so: cannot open shared object file")
sys.meta_path.insert(0, Broken())
from hybrid_magic import backends
from hybrid_magic.errors import BackendUnavailableError
print(backends.auto_backend("smollm2-135m"))
try:
    backends.backend_class("llamacpp")
except BackendUnavailableError as error:
    print(error)
"""


def test_a_library_that_does_not_load_falls_back_and_says_why_in_one_line():
    done = subprocess.run([sys.executable, "-c", BROKEN_LIBRARY], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    auto, message = done.stdout.strip().splitlines()
    assert auto in ("transformers", "mlx")
    assert message == ("The llamacpp backend's library is installed but does not load: "
                       "libllama.so: cannot open shared object file")


def test_missing_extra_names_it_in_one_line():
    done = subprocess.run([sys.executable, "-c", BLOCKED_IMPORT], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    auto, message = done.stdout.strip().splitlines()
    assert auto in ("transformers", "mlx")  # auto falls back without the extra
    assert message == "The llamacpp backend needs llama_cpp: pip install 'hybrid_magic[llamacpp]'."
