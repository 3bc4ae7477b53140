"""Local backends by name, imported lazily; one loaded instance per (backend, model).

`auto` picks llama.cpp when its extra is installed and the model is a GGUF file
(the embedded default is one): it runs the file as is. Otherwise mlx-lm on Apple
Silicon, transformers elsewhere.
"""
from __future__ import annotations

import functools
import importlib
import platform
import sys
import time

from ..errors import BackendUnavailableError, UsageError
from ..interrupts import interrupt_after
from ..models import ResolvedModel, gguf_kind, resolve
from .base import LocalBackend

# name -> (module, class, pip extra that provides it)
BACKENDS: dict[str, tuple[str, str, str]] = {
    "transformers": ("hybrid_magic.backends.transformers", "TransformersBackend", "transformers"),
    "mlx": ("hybrid_magic.backends.mlx", "MLXBackend", "mlx"),
    "server": ("hybrid_magic.backends.server", "ServerBackend", "server"),  # a loopback OpenAI-compatible server
    "llamacpp": ("hybrid_magic.backends.llamacpp", "LlamaCppBackend", "llamacpp"),
}
READS_GGUF = frozenset({"llamacpp"})  # backends that load a .gguf file as is; the others need it converted

_loaded: dict[tuple[str, str], LocalBackend] = {}
load_count = 0  # how many real loads happened in this process (tests read it)


def auto_backend(model: str | None = None) -> str:
    """llama.cpp for a GGUF model when llama-cpp-python loads; else mlx-lm on Apple Silicon, transformers."""
    if model is not None and gguf_kind(model) and _loads("llama_cpp"):
        return "llamacpp"
    if sys.platform == "darwin" and platform.machine() == "arm64" and _loads("mlx_lm"):
        return "mlx"
    return "transformers"


def backend_name(name: str, model: str | None) -> str:
    """The backend `name` picks for `model`: itself, or auto's choice."""
    return auto_backend(model) if name == "auto" else name


@functools.cache
def _loads(module: str) -> bool:
    """Whether `module` imports: installed is not enough (a native library can fail to load)."""
    try:
        with interrupt_after():
            importlib.import_module(module)
        return True
    except (ImportError, OSError, RuntimeError):
        return False


def load_backend(name: str, model: str, cache_dir: str, *, progress=None) -> tuple[LocalBackend, float]:
    """Resolve `model` the way backend `name` (or auto's pick) reads it, then get_backend."""
    name = backend_name(name, model)
    resolved = resolve(model, cache_dir, progress=progress, convert=name not in READS_GGUF)
    return get_backend(name, resolved)


def backend_class(name: str) -> type[LocalBackend]:
    if name not in BACKENDS:
        raise UsageError(f"Unknown backend {name!r}: choose one of auto, {', '.join(BACKENDS)}.")
    module_name, class_name, extra = BACKENDS[name]
    try:
        with interrupt_after():  # an interrupted first `import torch` would crash the next import
            module = importlib.import_module(module_name)
    except ImportError as error:
        raise BackendUnavailableError(
            f"The {name} backend needs {error.name or 'its library'}: pip install 'hybrid_magic[{extra}]'."
        ) from None
    except (OSError, RuntimeError) as error:  # installed, but its native library does not load
        from ._text import first_line  # here, not at the top: %load_ext would import numpy for --backend's choices

        raise BackendUnavailableError(
            f"The {name} backend's library is installed but does not load: {first_line(error)}") from None
    return getattr(module, class_name)


def get_backend(name: str, model: ResolvedModel) -> tuple[LocalBackend, float]:
    """The loaded backend and the seconds spent loading it now (0.0 when reused)."""
    global load_count
    name = backend_name(name, model.path)
    key = (name, model.path)
    if key in _loaded:
        return _loaded[key], 0.0
    cls = backend_class(name)
    started = time.perf_counter()
    backend = cls(model)
    load_count += 1
    _loaded[key] = backend
    return backend, time.perf_counter() - started
