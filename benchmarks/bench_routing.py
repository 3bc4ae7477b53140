"""How well the default cascade predicts the local model's mistakes, on held-out items.

Runs (or reads back from the results store: generations are cached, so a re-run
only replays) the experiment on builtin_mix(30) with the real local model, the
oracle cloud (an upper bound: the cloud is scored right on every item), and prints
local accuracy, AUROC per signal and for the default policy, APGR for the default
policy, random and perfect routers, the share of achievable gain, and CPT.
Signals and thresholds were chosen on experiments.devset.dev_set(), not on these items.

    python benchmarks/bench_routing.py [--items 30] [--max-tokens 24] [--backend transformers] [--dev]
"""
from __future__ import annotations

import argparse
import time

from hybrid_magic.experiments import Experiment, builtin_mix
from hybrid_magic.experiments.analysis import DEFAULT_POLICY_ROW, handoff_reasons
from hybrid_magic.experiments.devset import dev_set


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--backend", default="transformers")
    parser.add_argument("--store", default=None, help="results store (default: the one under the home dir)")
    parser.add_argument("--dev", action="store_true", help="the dev set (where thresholds were chosen) instead")
    args = parser.parse_args()

    items, name = ((dev_set(), "dev60") if args.dev else (builtin_mix(args.items), f"builtin_mix{args.items}"))
    exp = Experiment(items, backend=args.backend, max_tokens=args.max_tokens, name=name, store=args.store)
    started = time.perf_counter()
    exp.run(progress=False)
    print(f"{name}: {len(items)} items, {args.backend}, max_tokens {args.max_tokens}, {exp.cloud_mode}; "
          f"{exp.computed['local']} generated now, {time.perf_counter() - started:.0f} s")
    table = exp.summary().set_index("router")
    print(f"local accuracy: {table.local_accuracy.iloc[0]:.0%}")
    print("\nAUROC for local errors (higher = better ranking; 0.5 = chance):")
    for router, row in table.iterrows():
        if router.startswith("signal:") or router == DEFAULT_POLICY_ROW:
            print(f"  {router:32} {row.auroc:.3f}")
    print("\nAPGR / CPT(50%) / CPT(80%):")
    for router in (DEFAULT_POLICY_ROW, "random", "perfect"):
        row = table.loc[router]
        print(f"  {router:32} APGR {row.apgr:.3f}  CPT50 {row.cpt50:.2f}  CPT80 {row.cpt80:.2f}")
    default = table.loc[DEFAULT_POLICY_ROW]
    print(f"\nshare of achievable gain (default policy): {default.gain_share:.2f}")
    sweep_row = exp.sweep("cascade", [exp.thresholds.low_confidence]).iloc[0]
    print(f"at the default thresholds: handoff rate {sweep_row.handoff_rate:.0%}, quality {sweep_row.quality:.3f}, "
          f"PGR {sweep_row.pgr:.2f}; reasons {handoff_reasons(exp.recorded(), 'cascade', exp.thresholds)}")


if __name__ == "__main__":
    main()
