"""Research layer: datasets, recorded runs, offline policy sweeps, RouteLLM metrics, plots.

    from hybrid_magic.experiments import Experiment, builtin_mix
    exp = Experiment(builtin_mix(30), max_tokens=24)   # or corpus(40): 28 generated task families
    exp.run(); exp.sweep("router"); exp.calibrate(target_handoff_rate=0.3)

Imports are lazy so `import hybrid_magic` never pulls pandas or matplotlib.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "Experiment": ".runner",
    "load_dataset": ".datasets",
    "load_builtin": ".datasets",
    "builtin_mix": ".datasets",
    "instructed": ".instructions",
    "corpus": ".corpus",
    "leave_family_out": ".corpus",
    "SCORERS": ".scorers",
    "llm_judge": ".scorers",
    "numeric_scorer": ".scorers",
    "regex_scorer": ".scorers",
    "ResultStore": ".store",
    "apgr": ".metrics",
    "auroc": ".metrics",
    "cpt": ".metrics",
    "router_summary": ".metrics",
    "ORACLE_LABEL": ".metrics",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
