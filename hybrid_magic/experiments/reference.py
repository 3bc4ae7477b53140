"""The shipped reference distribution of answer_estimate, for `%hybrid calibrate --handoff-rate`.

When a user has too few %%hybrid cells of their own, calibrate picks the threshold from
quantiles of answer_estimate on the development corpus (experiments.corpus), stored as
data in router/answer_estimate_reference.json with the weights they were computed under.
When router/confidence.py's weights change, re-run (the generations are stored, so only
the replay is redone):

    python -m hybrid_magic.experiments.reference --per-family 24 --store /tmp/reference.sqlite
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from ..router import confidence
from ..router.handoff_rate import REFERENCE_PATH, STEPS
from ..router.signals import Thresholds
from . import replay
from .corpus import corpus
from .runner import Experiment


def answer_estimates(recs: list[replay.Recorded]) -> np.ndarray:
    """answer_estimate over each whole recorded answer (nothing stops it), where it is available."""
    values = []
    for rec in recs:
        found = next(s for s in replay.answer_signals(rec, Thresholds()) if s.name == "answer_estimate")
        if found.available:
            values.append(found.value)
    return np.array(values)


def quantile_table(values: np.ndarray, source: str) -> dict:
    """A reference distribution as %hybrid calibrate reads it: quantiles at every STEPS-th, and the source."""
    levels = np.linspace(0.0, 1.0, STEPS + 1)
    return {"source": source, "items": int(len(values)), "levels": levels.round(4).tolist(),
            "quantiles": np.quantile(values, levels).round(5).tolist()}


def reference(values: np.ndarray, source: str) -> dict:
    """answer_estimate's stored form: its quantile table and the weights it holds for."""
    return {**quantile_table(values, source), "weights": {k: list(v) for k, v in confidence.WEIGHTS.items()},
            "bias": confidence.BIAS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-family", type=int, default=24)
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--backend", default="transformers")
    parser.add_argument("--store", default=None)
    args = parser.parse_args()
    exp = Experiment(corpus(args.per_family), backend=args.backend, max_tokens=args.max_tokens, name="corpus",
                     store=args.store)
    exp.run(progress=False)
    values = answer_estimates(exp.recorded())
    source = (f"SmolLM2-135M ({args.backend}, greedy, max_tokens {args.max_tokens}) on the development corpus, "
              f"{args.per_family} items in each of its families")
    REFERENCE_PATH.write_text(json.dumps(reference(values, source), indent=1) + "\n", encoding="utf-8")
    print(f"{len(values)} answer_estimate values -> {REFERENCE_PATH}")


if __name__ == "__main__":
    main()
