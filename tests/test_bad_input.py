"""Bad input on a real shell: one `hybrid_magic:` line, no traceback, nothing run or recorded.

Settings are checked when set (`%config`), naming the setting; interpolation fills
plain names only and never runs a property or `__getitem__`.
"""
from __future__ import annotations

import pytest
from IPython.utils.capture import capture_output

from hybrid_magic.display.mime import MIME_TYPE
from hybrid_magic.magics import HybridMagics


class Loud:
    def __str__(self):
        raise ValueError("no str for you")


class Touchy:
    """Counts every attribute or item read: interpolation must not do either."""

    reads = 0

    @property
    def secret(self):
        Touchy.reads += 1
        return "ran a property"

    def __getitem__(self, index):
        Touchy.reads += 1
        return "ran __getitem__"


@pytest.fixture
def magics(shell, isolated_home):
    instance = HybridMagics(shell=shell, backend="transformers")
    shell.register_magics(instance)
    shell.run_line_magic("load_ext", "hybrid_magic")  # the input transformer for empty cells
    shell.register_magics(instance)
    shell.user_ns.update(loud=Loud(), touchy=Touchy())
    return instance


BAD_CELLS = [  # (cell as typed, words of the one line)
    ("%%local\nhello \ud800", "lone surrogate"),
    ("%%local --system \"oops\nhello", "No closing quotation"),
    ("%%local\nsay {loud}", "{loud}: str() of the value failed (ValueError: no str for you)"),
    ("%%local --temperature inf\nhello", "--temperature must be >= 0 and finite, not inf"),
    ("%%local --temperature nan\nhello", "--temperature must be >= 0 and finite, not nan"),
    ("%%local --top-p nan\nhello", "--top-p must be in (0, 1]"),
    ("%%hybrid --deadline nan\nhello", "--deadline must be a positive number of seconds, not nan"),
    ("%%hybrid --deadline inf\nhello", "--deadline must be a positive number of seconds, not inf"),
    ("%%hybrid --threshold nan\nhello", "--threshold must be between 0 and 1"),
    ('%%hybrid --cloud-model ""\nhello', "--cloud-model needs a model name"),
    ("%%hybrid --model-handoff --no-model-handoff\nhello", "--model-handoff and --no-model-handoff contradict"),
    ("%%local --out 1-bad\nhello", "--out takes a Python variable name, not '1-bad'"),
    ("%%local --out class\nhello", "--out takes a Python variable name, not 'class'"),
    ("%%local", "The %%local cell is empty"),
    ("%%hybrid", "The %%hybrid cell is empty"),
    ("%hybrid history abc", "history takes a number of runs (1 or more), not 'abc'"),
    ("%hybrid history -5", "history takes a number of runs (1 or more), not '-5'"),
    ("%hybrid history 0", "history takes a number of runs"),
    ("%hybrid budget nan", "takes a finite number of USD, not 'nan'"),
    ("%hybrid budget inf", "takes a finite number of USD, not 'inf'"),
    ('%hybrid status "oops', "No closing quotation"),
    ("%hybrid audit --since 99999999d", "reaches back too far"),
    ("%hybrid audit --export {tmp}/a-file/a.json", "--export: cannot write"),
    ("%hybrid audit --export {tmp}/a-file/deeper/a.json", "--export: cannot write"),
    ("%hybrid audit --export {tmp}", "writes .json or .csv files"),
]


@pytest.mark.parametrize("cell, words", BAD_CELLS)
def test_bad_input_is_one_line(shell, magics, tmp_path, cell, words):
    (tmp_path / "a-file").write_text("a file, not a folder")
    with capture_output() as captured:
        result = shell.run_cell(cell.replace("{tmp}", str(tmp_path)))
    lines = [line for line in captured.stderr.splitlines() if line.strip()]
    assert result.error_in_exec is None and result.error_before_exec is None
    assert len(lines) == 1 and lines[0].startswith("hybrid_magic: ") and words in lines[0], captured.stderr
    assert "Traceback" not in captured.stdout + captured.stderr
    assert not [o for o in captured.outputs if MIME_TYPE in o.data], "nothing ran"
    assert magics.engine.ledger.runs() == []


def test_export_into_a_missing_folder_makes_it(shell, magics, tmp_path):
    with capture_output() as captured:
        shell.run_cell(f"%hybrid audit --export {tmp_path}/new/folder/a.json")
    assert "wrote 0 request(s)" in captured.stdout and (tmp_path / "new" / "folder" / "a.json").exists()


@pytest.mark.parametrize("setting, value, words", [
    ("threshold", "5", "HybridMagics.threshold must be between 0 and 1"),
    ("max_tokens", "0", "HybridMagics.max_tokens must be at least 1"),
    ("budget_usd", "float('nan')", "HybridMagics.budget_usd must be a finite number"),
    ("temperature", "float('inf')", "HybridMagics.temperature must be a finite number"),
    ("cloud_deadline_s", "-1", "HybridMagics.cloud_deadline_s must be"),
    ("early_margin", "-1", "HybridMagics.early_margin must be None or a finite number >= 0"),
])
def test_config_refuses_a_bad_setting_when_it_is_set(shell, magics, caplog, setting, value, words):
    before = getattr(magics, setting)
    try:
        with capture_output() as captured:
            shell.run_cell(f"%config HybridMagics.{setting} = {value}")
    finally:  # %config keeps the value in the shell's config, where later HybridMagics would meet it
        shell.config.HybridMagics.pop(setting, None)
    assert getattr(magics, setting) == before
    assert words in captured.stderr + caplog.text


def test_interpolation_fills_plain_names_only(shell, magics):
    shell.user_ns["city"] = "Paris"
    with capture_output():
        shell.run_cell("%%local --max-tokens 2 --out r\nAbout {city}: {touchy.secret} {touchy[0]} {nothing} {{x}}")
    prompt = shell.user_ns["r"].record
    assert Touchy.reads == 0, "no property or __getitem__ ran"
    sent = magics.engine.ledger.runs()[0]["prompt_redacted"]
    assert sent == "About Paris: {touchy.secret} {touchy[0]} {nothing} {x}" and prompt is not None


def test_quoted_options_lose_their_quotes(shell, magics):
    args = magics.local.parser.parse_args(["--system", "Be brief."])  # what the old splitter produced
    assert args.system == "Be brief."
    with capture_output():
        shell.run_cell('%%local --max-tokens 2 --system "Be brief." --out r\nHi')
    assert magics.engine.ledger.runs()[0]["prompt_redacted"].startswith("Be brief.\n\nHi")
