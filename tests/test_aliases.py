"""Aliases and `%hybrid models`: what runs offline now, where it is cached, its size on disk."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from conftest import SHARED_CACHE
from IPython.utils.capture import capture_output

from hybrid_magic.aliases import ALIASES, lookup_alias
from hybrid_magic.aliases_report import human_size, model_rows, models_table
from hybrid_magic.models import embedded_gguf_path, folder_size_bytes


def by_alias(rows) -> dict:
    return {row.alias: row for row in rows}


def fake_hub_repo(hub: Path, repo_id: str, content: bytes = b'{"model_type": "qwen2"}') -> int:
    """A hub cache entry laid out as huggingface_hub writes it: blobs, a snapshot symlink, refs/main."""
    repo = hub / ("models--" + repo_id.replace("/", "--"))
    sha = hashlib.sha256(content).hexdigest()
    (repo / "blobs").mkdir(parents=True)
    (repo / "blobs" / sha).write_bytes(content)
    snapshot = repo / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").symlink_to(Path("../..") / "blobs" / sha)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    return len(content)


def test_every_alias_has_ids_and_lookup_ignores_case():
    assert lookup_alias("SmolLM2-135M") is ALIASES["smollm2-135m"]
    assert all(a.hf_id.count("/") == 1 and a.mlx_id.startswith("mlx-community/") for a in ALIASES.values())
    assert [a.name for a in ALIASES.values() if a.embedded] == ["smollm2-135m"]


def test_converted_embedded_model_is_offline_with_its_size(model_dir, tmp_path):
    rows = by_alias(model_rows(SHARED_CACHE, hub_cache=tmp_path / "no-hub"))
    smol = rows["smollm2-135m"]
    assert (smol.offline, smol.where) == ("yes", str(Path(SHARED_CACHE) / "smollm2-135m"))
    assert smol.size_bytes == folder_size_bytes(model_dir) > 50_000_000
    assert rows["gpt-oss-20b"].offline == "no" and rows["gpt-oss-20b"].size_bytes is None


def test_empty_cache_embedded_model_is_convertible(tmp_path):
    rows = by_alias(model_rows(tmp_path / "models", hub_cache=tmp_path / "hub"))
    smol = rows["smollm2-135m"]
    assert smol.offline == "convertible" and smol.where == str(embedded_gguf_path())
    assert smol.size_bytes == embedded_gguf_path().stat().st_size
    assert {r.offline for name, r in rows.items() if name != "smollm2-135m"} == {"no"}


def test_hub_cache_and_local_folders_are_found(tmp_path):
    size = fake_hub_repo(tmp_path / "hub", "mlx-community/Qwen3-0.6B-4bit")
    extra = tmp_path / "models" / "my-finetune"
    extra.mkdir(parents=True)
    (extra / "config.json").write_text("{}")
    (tmp_path / "models" / "not-a-model").mkdir()
    rows = by_alias(model_rows(tmp_path / "models", hub_cache=tmp_path / "hub"))
    qwen = rows["qwen3-0.6b"]
    assert qwen.offline == "yes" and qwen.size_bytes == size and "Qwen3-0.6B-4bit" in qwen.where
    assert rows["my-finetune"].offline == "yes" and rows["my-finetune"].note == "local folder"
    assert "not-a-model" not in rows


def test_bundle_has_plain_and_html_tables(tmp_path):
    fake_hub_repo(tmp_path / "hub", "Qwen/Qwen2.5-0.5B-Instruct")
    bundle = models_table(tmp_path / "models", hub_cache=tmp_path / "hub")
    assert set(bundle) == {"text/plain", "text/html"}
    plain = bundle["text/plain"].splitlines()
    assert plain[0].split()[:3] == ["alias", "offline", "where"]
    assert any(line.startswith("qwen2.5-0.5b") and " yes " in line for line in plain)
    assert plain[-1] == f"1 of {len(ALIASES)} models run offline now."
    assert bundle["text/html"].count("<tr") == len(ALIASES) + 1 and "<td>gpt-oss-20b</td>" in bundle["text/html"]


@pytest.mark.parametrize("size, text", [(None, "-"), (512, "512 B"), (1_500, "1.5 KB"), (270_000_000, "270.0 MB"),
                                        (13_000_000_000, "13.0 GB")])
def test_human_size(size, text):
    assert human_size(size) == text


def test_models_subcommand_on_a_real_shell(model_dir, shell):
    from hybrid_magic.magics import HybridMagics

    shell.register_magics(HybridMagics(shell=shell))
    with capture_output() as captured:
        shell.run_line_magic("hybrid", "models")
    [output] = [o for o in captured.outputs if "text/html" in o.data]
    assert "smollm2-135m" in output.data["text/plain"] and "<table" in output.data["text/html"]
