"""hybrid_magic: run prompts on a local model; hand off to the cloud only when needed, and show why.

`%load_ext hybrid_magic` registers `%%local`, `%%hybrid`, `%%compare` and `%hybrid`.
"""
from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["load_ipython_extension", "unload_ipython_extension", "__version__"]

from ._lab import _jupyter_labextension_paths  # noqa: E402  (jupyter labextension develop needs it)


def load_ipython_extension(ipython) -> None:
    from ._lab import lab_extension_problem
    from .cells import keep_empty_body
    from .magics import HybridMagics

    ipython.register_magics(HybridMagics(shell=ipython))
    if keep_empty_body not in ipython.input_transformers_cleanup:  # our message for an empty cell
        ipython.input_transformers_cleanup.append(keep_empty_body)
    problem = lab_extension_problem()
    if problem:
        print(problem)


def unload_ipython_extension(ipython) -> None:
    """Models stay loaded in the process; re-loading the extension reuses them."""
