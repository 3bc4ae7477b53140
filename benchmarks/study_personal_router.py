"""Study: how many labelled answers does a personal router (`fit_policy`) need to rank the local model's answers
better than the default router? (#13's target asks for it on a user's half of one hidden set: 46-71 answers.)

A "user" is k recorded sets pooled (k = 1: one writer's set, the target's case; k > 1: a user whose prompts are
varied), split in halves stratified by correctness (seeds 0-2), `fit_policy` fitted on one half as shipped (a
correction to the default router, its strength cross-validated, with the prompt's hidden states) and both
replayed as live on the other half. Prints, for each k, the mean over users of the held-out AUROC gain over the
default router (mean of the three seeds), its spread, the worst user, and how many users' gain is above zero.

    python benchmarks/study_personal_router.py --stores /tmp/s42/stores --tokens 24 \\
        benchmarks/heldout/everyday_1[5-7]*.jsonl

Each set's recording is read from STORES/<set file's stem><tokens>.sqlite (record one with
`Experiment(load_dataset(path), backend="transformers", max_tokens=..., store=...).run()`); a set without one is
skipped with a line. Users are drawn from the sets in one fixed random order (seed 0), without overlap.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from hybrid_magic.experiments import Experiment
from hybrid_magic.experiments.datasets import load_dataset
from hybrid_magic.experiments.learned import fit_policy
from hybrid_magic.experiments.recording import state_rows
from hybrid_magic.router.signals import Thresholds

SEEDS = (0, 1, 2)
NAME = "personal_study"


def recorded_sets(paths: list[str], stores: Path, tokens: int) -> list[list]:
    """Each set's recorded items (transformers, `tokens`), in the order given; sets without a recording skipped."""
    found = []
    for path in paths:
        store = stores / f"{Path(path).stem}{tokens}.sqlite"
        if not store.exists():
            print(f"skipped {path}: no recording at {store}")
            continue
        exp = Experiment(load_dataset(path), backend="transformers", max_tokens=tokens, name=Path(path).stem,
                         store=str(store))
        found.append(exp.recorded())
    return found


def gain(recs: list) -> float:
    """fit_policy's held-out AUROC minus the default router's on the same halves, mean over SEEDS."""
    states, th = state_rows(recs), Thresholds()
    reports = [fit_policy(recs, NAME, th, test_size=0.5, seed=seed, states=states) for seed in SEEDS]
    return float(np.mean([r.auroc_learned - r.auroc_cascade for r in reports]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sets", nargs="+", help="set files (.jsonl), each recorded in --stores")
    parser.add_argument("--stores", type=Path, required=True)
    parser.add_argument("--tokens", type=int, default=24)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 4, 8], help="sets pooled per user")
    args = parser.parse_args()
    sets = recorded_sets(args.sets, args.stores, args.tokens)
    order = np.random.default_rng(0).permutation(len(sets))
    print(f"{len(sets)} sets recorded at {args.tokens} tokens")
    for k in args.sizes:
        users = [[rec for i in order[start:start + k] for rec in sets[i]]
                 for start in range(0, len(sets) - k + 1, k)]
        if not users:
            continue
        gains = np.array([gain(user) for user in users])
        labels = np.mean([len(user) for user in users]) / 2
        print(f"k={k}: {len(users)} users, ~{labels:.0f} labelled answers to fit on; gain over the router "
              f"{gains.mean():+.4f} (sd {gains.std():.4f}, worst {gains.min():+.3f}), above it for "
              f"{int((gains > 0).sum())} of {len(users)}", flush=True)


if __name__ == "__main__":
    main()
