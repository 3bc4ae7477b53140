"""Model resolution: clear errors, atomic GGUF conversion, conversion once, offline hub ids.

One real conversion (about 25 s) into a temp cache, shared by the tests below it.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from hybrid_magic import models
from hybrid_magic.backends import get_backend
from hybrid_magic.errors import ModelNotFoundError
from hybrid_magic.models import resolve
from hybrid_magic.types import GenerationParams


def test_unknown_name_says_what_is_accepted(tmp_path):
    with pytest.raises(ModelNotFoundError, match="Unknown model 'no-such-model'.*hub id"):
        resolve("no-such-model", tmp_path)


def test_missing_path_is_named(tmp_path):
    missing = tmp_path / "nowhere" / "model"
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        resolve(str(missing), tmp_path)


def test_missing_gguf_file_is_named(tmp_path):
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        resolve(str(tmp_path / "weights.gguf"), tmp_path)


def test_folder_without_config_is_refused(tmp_path):
    folder = tmp_path / "not-a-model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"0")
    with pytest.raises(ModelNotFoundError, match="no config.json"):
        resolve(str(folder), tmp_path)


def test_empty_name_says_how_to_choose(tmp_path):
    with pytest.raises(ModelNotFoundError, match="-m NAME"):
        resolve("  ", tmp_path)


def test_hub_id_resolves_without_network(tmp_path):
    resolved = resolve("someorg/some-model", tmp_path)
    assert (resolved.kind, resolved.path) == ("hub", "someorg/some-model")


@pytest.mark.parametrize("backend_name", ["transformers", "mlx"])
def test_offline_hub_id_fails_on_load_with_one_line(backend_name, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    resolved = resolve("someorg/some-model", tmp_path)
    with pytest.raises(ModelNotFoundError) as caught:
        get_backend(backend_name, resolved)
    message = str(caught.value)
    assert message.startswith("could not fetch someorg/some-model from the Hugging Face hub: offline?")
    assert "\n" not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # no chained traceback


def _entries(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


@pytest.fixture(scope="module")
def converted_cache(tmp_path_factory):
    """A cache where one conversion failed half-way, then a real one succeeded.

    Returns (cache, entries left by the failed attempt, resolved model).
    """
    cache = tmp_path_factory.mktemp("model-cache")

    def write_half_then_fail(gguf, out):
        (out / "model.safetensors").write_bytes(b"partial")
        raise RuntimeError("disk full (simulated)")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(models, "_write_hf_folder", write_half_then_fail)
        with pytest.raises(RuntimeError, match="simulated"):
            resolve("smollm2-135m", cache, progress=lambda _: None)
    left_after_failure = _entries(cache)
    resolved = resolve("smollm2-135m", cache, progress=lambda _: None)
    return cache, left_after_failure, resolved


def test_failed_conversion_leaves_nothing_behind(converted_cache):
    _, left_after_failure, _ = converted_cache
    assert left_after_failure == []  # no final folder, no hidden staging folder


def test_conversion_after_a_failure_succeeds_and_loads(converted_cache):
    cache, _, resolved = converted_cache
    folder = Path(resolved.path)
    assert folder.parent == cache and models.is_converted(folder)
    assert _entries(cache) == [folder.name]  # the staging folder was renamed, not copied
    from hybrid_magic.backends.transformers import TransformersBackend

    backend = TransformersBackend(resolved)
    events = list(backend.stream([{"role": "user", "content": "Hi"}], GenerationParams(max_tokens=3)))
    assert events[-1].timings.completion_tokens >= 1


def test_second_resolve_does_not_convert_again(converted_cache, monkeypatch):
    cache, _, first = converted_cache

    def must_not_convert(gguf, out):
        raise AssertionError("converted twice")

    monkeypatch.setattr(models, "_write_hf_folder", must_not_convert)
    messages: list[str] = []
    again = resolve("smollm2-135m", cache, progress=messages.append)
    assert again == first
    assert messages == []  # no "Converting ..." notice either
