"""How well the default router (and the signal cascade) predicts the local model's mistakes, on held-out items.

Runs (or reads back from the results store: generations are cached, so a re-run
only replays) the experiment on builtin_mix(30) with the real local model, the
oracle cloud (an upper bound: the cloud is scored right on every item), and prints
local accuracy, AUROC per signal and for the default policy, APGR for the default
policy, random and perfect routers, the share of achievable gain, and CPT.
With --corpus N: leave-family-out figures on the development corpus (N items per
family, recorded with the prompt live %%hybrid sends, batched): AUROC and share of
achievable gain per family for the default router, the signal cascade, answer_estimate alone, the
best single naive token feature (chosen on the other families) and each naive
feature, the mean and the worst family and all pooled; the same on random mixes of
9 families, each scored by a fit on the other families; the handoff rate at the
default threshold; then (unless --skip-fit) fit_policy on the mix (seeds 0, 1, 2)
with and without the local model's hidden states. --self-check also records and
measures self_check (one more prefill per item). --candidates: the combinations of
answer features the default was chosen among (equal weights on standardised values,
centres and scales fitted on the other families), on the same families and mixes.
With --set PATH: a JSONL set that chose nothing (benchmarks/heldout/: hand-written, never
used to choose a feature, weight or threshold): the fixed routers per family, pooled and on
mixes of half its families, the handoff rate, and fit_policy on a held-out half. With --instruct
the set's prompts end in the format instruction a benchmark adds ("Answer yes or no.";
experiments.instructions), as the development corpus's do.

    python benchmarks/bench_routing.py [--items 30] [--max-tokens 24] [--backend transformers] [--dev]
    python benchmarks/bench_routing.py --corpus 24 --store /tmp/study/corpus.sqlite [--skip-fit]
    python benchmarks/bench_routing.py --set benchmarks/heldout/everyday_a.jsonl --store /tmp/study/a.sqlite
    python benchmarks/bench_routing.py --set benchmarks/heldout/everyday_a.jsonl --instruct --store /tmp/study/a-i.sqlite
"""
from __future__ import annotations

import argparse
import time

from hybrid_magic.experiments import Experiment, builtin_mix
from hybrid_magic.experiments.analysis import CASCADE_ROW, DEFAULT_POLICY_ROW, handoff_reasons
from hybrid_magic.experiments.devset import dev_set
from hybrid_magic.types import DEFAULT_POLICY

NAIVE = ("mean_logprob", "first_prob", "lowest3_logprob", "min_prob", "min_margin", "mean_entropy")
# combinations of router.confidence.answer_features; each feature counts towards "right" when high,
# except those in LONGER_IS_WORSE
CANDIDATES = {
    "default (lowest + margin)": ("lowest_logprob", "min_margin"),
    "previous default's three": ("span_first_logprob", "span_lowest_logprob", "min_margin"),
    "lowest + margin + yes/no": ("lowest_logprob", "min_margin", "binary_answer"),
    "lowest + margin + span first": ("lowest_logprob", "min_margin", "span_first_logprob"),
    "lowest + margin + length": ("lowest_logprob", "min_margin", "tokens"),
}
LONGER_IS_WORSE = {"tokens", "span_tokens"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--backend", default="transformers")
    parser.add_argument("--store", default=None, help="results store (default: the one under the home dir)")
    parser.add_argument("--dev", action="store_true", help="the dev set (where thresholds were chosen) instead")
    parser.add_argument("--corpus", type=int, default=0, help="leave-family-out on corpus(N per family)")
    parser.add_argument("--set", default=None, help="a JSONL set with a 'family' per item (benchmarks/heldout/)")
    parser.add_argument("--instruct", action="store_true",
                        help="with --set: each prompt ends in its format instruction (experiments.instructions)")
    parser.add_argument("--self-check", action="store_true", help="with --corpus: record and measure self_check")
    parser.add_argument("--skip-fit", action="store_true", help="with --corpus: no fit_policy rows")
    parser.add_argument("--candidates", action="store_true", help="with --corpus: the combinations compared")
    parser.add_argument("--handoff-offer", action="store_true",
                        help="record with the handoff offered to the local model (HybridMagics.model_handoff on)")
    args = parser.parse_args()
    if args.corpus:
        return corpus_figures(args)
    if args.set:
        return set_figures(args)

    items, name = ((dev_set(), "dev60") if args.dev else (builtin_mix(args.items), f"builtin_mix{args.items}"))
    exp = Experiment(items, backend=args.backend, max_tokens=args.max_tokens, name=name, store=args.store,
                     model_handoff=args.handoff_offer)
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
    sweep_row = exp.sweep(DEFAULT_POLICY, [exp.thresholds.low_confidence]).iloc[0]
    print(f"at the default thresholds: handoff rate {sweep_row.handoff_rate:.0%}, quality {sweep_row.quality:.3f}, "
          f"PGR {sweep_row.pgr:.2f}; reasons {handoff_reasons(exp.recorded(), DEFAULT_POLICY, exp.thresholds)}")


def corpus_figures(args) -> None:
    import numpy as np
    import pandas as pd

    from hybrid_magic.experiments.analysis import risk_scores
    from hybrid_magic.experiments.corpus import corpus
    from hybrid_magic.experiments.generalisation import family_table, fixed_risk, leave_family_out_risk, mix_table

    exp = Experiment(corpus(args.corpus), backend=args.backend, max_tokens=args.max_tokens, name="corpus",
                     store=args.store, self_check=args.self_check, batch_size=16,
                     model_handoff=args.handoff_offer)
    exp.run(progress=False)
    recs = exp.recorded()
    risks = risk_scores(recs, exp.thresholds)
    naive = {name: risks[f"feature:{name}"] for name in NAIVE}
    # the default router was fitted on this corpus among its sources: its rows here are not held out
    # (benchmarks/fit_default_router.py --check has its leave-one-source-out figures)
    fits = {"default": fixed_risk(recs, risks[DEFAULT_POLICY_ROW]), "cascade": fixed_risk(recs, risks[CASCADE_ROW]),
            "answer_estimate": fixed_risk(recs, risks["signal:answer_estimate"]),
            "best_single_lfo": best_single(naive, recs),
            **{f"feature:{n}": fixed_risk(recs, r) for n, r in naive.items()}}
    if "signal:self_check" in risks:
        fits["self_check"] = fixed_risk(recs, risks["signal:self_check"])
    table = family_table(recs, {name: leave_family_out_risk(recs, fit) for name, fit in fits.items()})
    pd.set_option("display.width", 250)
    print(f"corpus({args.corpus}): {len(recs)} items, {table.shape[0] - 3} families, {exp.cloud_mode}; local accuracy "
          f"{np.mean([r.local_score >= 0.5 for r in recs]):.3f}")
    print(table.round(3).to_string())
    print("\nrandom mixes of 9 families (100), each scored by a fit on the other families:")
    print(mix_table(recs, fits).round(3).to_string())
    print_handoff_rate(exp, recs)
    if args.candidates:
        candidate_figures(recs)
    if not args.skip_fit:
        fit_policy_figures(exp)


def set_figures(args) -> None:
    """A set that chose nothing (e.g. hand-written): the fixed routers per family, pooled and on mixes of half
    its families; the handoff rate; fit_policy on a held-out half (seeds 0-2), as on a user's own prompts."""
    import numpy as np
    import pandas as pd

    from hybrid_magic.experiments.analysis import risk_scores
    from hybrid_magic.experiments.datasets import load_dataset
    from hybrid_magic.experiments.generalisation import family_of, family_table, fixed_risk, mix_table
    from hybrid_magic.experiments.instructions import instructed

    name = args.set.rsplit("/", 1)[-1].removesuffix(".jsonl") + ("-instructed" if args.instruct else "")
    items = load_dataset(args.set)
    exp = Experiment(instructed(items) if args.instruct else items, backend=args.backend, max_tokens=args.max_tokens,
                     name=name, store=args.store, batch_size=16, model_handoff=args.handoff_offer)
    exp.run(progress=False)
    recs = exp.recorded()
    risks = risk_scores(recs, exp.thresholds)
    routers = {"default": risks[DEFAULT_POLICY_ROW], "cascade": risks[CASCADE_ROW],
               "answer_estimate": risks["signal:answer_estimate"],
               **{n: risks[f"feature:{n}"] for n in NAIVE}}
    table = family_table(recs, routers)
    pd.set_option("display.width", 250)
    print(f"{name}: {len(recs)} items, {table.shape[0] - 3} families, {exp.cloud_mode}; local accuracy "
          f"{np.mean([r.local_score >= 0.5 for r in recs]):.3f}")
    print(table[[c for c in table.columns if not c.startswith("gain:")]].round(3).to_string())
    print(table.loc[["mean", "worst", "pooled"], [c for c in table.columns if c.startswith("gain:")]].round(3).T
          .to_string())
    half = len({family_of(r) for r in recs}) // 2
    print(f"\nrandom mixes of {half} families (100):")
    print(mix_table(recs, {n: fixed_risk(recs, r) for n, r in routers.items()}, size=half).round(3).to_string())
    print_handoff_rate(exp, recs)
    if not args.skip_fit:
        held_out_fits(exp)


def print_handoff_rate(exp, recs: list) -> None:
    import numpy as np

    for policy in (DEFAULT_POLICY, "cascade"):
        row = exp.sweep(policy, [exp.thresholds.low_confidence]).iloc[0]
        print(f"\n{policy} at the default knob: handoff rate {row.handoff_rate:.3f} (local error rate "
              f"{np.mean([r.local_score < 0.5 for r in recs]):.3f}); reasons "
              f"{handoff_reasons(recs, policy, exp.thresholds)}")


def held_out_fits(exp) -> None:
    """fit_policy on a held-out half (seeds 0-2), without and with hidden states: learned vs default AUROC."""
    import numpy as np

    for states in (False, True):
        reports = [exp.fit_policy(f"learned-{states}", test_size=0.5, seed=s, hidden_states=states) for s in (0, 1, 2)]
        print(f"fit_policy hidden_states={states}: held-out AUROC {np.mean([r.auroc_learned for r in reports]):.3f} "
              f"vs default {np.mean([r.auroc_cascade for r in reports]):.3f} (seeds 0-2: "
              f"{', '.join(f'{r.auroc_learned:.3f}/{r.auroc_cascade:.3f}' for r in reports)}); {reports[0]}")


def candidate_figures(recs) -> None:
    from hybrid_magic.experiments.generalisation import family_table, leave_family_out_risk, mix_table

    fits = {name: equal_weights(recs, features) for name, features in CANDIDATES.items()}
    table = family_table(recs, {name: leave_family_out_risk(recs, fit) for name, fit in fits.items()})
    print("\ncandidate combinations (fitted on the other families):")
    print(table.loc[["mean", "worst", "pooled"]].drop(columns=["n", "local_accuracy"]).T.round(3).to_string())
    print(mix_table(recs, fits).round(3).to_string())


def equal_weights(recs: list, features: tuple[str, ...]):
    """A fit for leave_family_out_risk: the features standardised on the training families, averaged."""
    import numpy as np

    from hybrid_magic.router.confidence import answer_features

    values = np.array([[answer_features(r.events).get(f, np.nan) for f in features] for r in recs])
    signs = np.array([-1.0 if f in LONGER_IS_WORSE else 1.0 for f in features])
    index = {id(r): i for i, r in enumerate(recs)}

    def fit(train):
        rows = values[[index[id(r)] for r in train]]
        centre, scale = np.nanmean(rows, axis=0), np.nanstd(rows, axis=0) + 1e-9
        return lambda test: -np.nan_to_num((values[[index[id(r)] for r in test]] - centre) / scale * signs).mean(axis=1)
    return fit


def fit_policy_figures(exp) -> None:
    from hybrid_magic.experiments.generalisation import family_table, leave_family_out_risk, mix_table

    held_out_fits(exp)
    recs = exp.recorded()
    fits = {"learned": learned_fit(exp, recs, None), "learned+states": learned_fit(exp, recs, exp.hidden_states(recs))}
    table = family_table(recs, {name: leave_family_out_risk(recs, fit) for name, fit in fits.items()})
    print("\nfit_policy leave-family-out (fitted on the other families, the held-out family never seen):")
    print(table.loc[["mean", "worst", "pooled"]].drop(columns=["n", "local_accuracy"]).T.round(3).to_string())
    print(mix_table(recs, fits).round(3).to_string())


def learned_fit(exp, recs: list, states):
    """A fit for leave_family_out_risk: fit_policy on the training families (its own split 0.2 held out),
    then the policy's P(wrong) on the unseen ones, from their replayed signals and stored states."""
    from hybrid_magic.experiments.learned import fit_policy
    from hybrid_magic.experiments.replay import answer_signals

    index = {id(r): i for i, r in enumerate(recs)}

    def rows(some):
        return None if states is None else states[[index[id(r)] for r in some]]

    def fit(train):
        policy = fit_policy(train, "learned-lfo", exp.thresholds, test_size=0.2, seed=0, states=rows(train)).policy
        return lambda test: [1.0 - policy.p_correct(answer_signals(r, exp.thresholds),
                                                    None if states is None else states[index[id(r)]])
                             for r in test]
    return fit


def best_single(naive: dict, recs: list):
    """A fit for leave_family_out_risk: the naive feature with the best AUROC on the training families."""
    import numpy as np

    from hybrid_magic.experiments.metrics import auroc

    index = {id(r): i for i, r in enumerate(recs)}

    def fit(train):
        rows = [index[id(r)] for r in train]
        wrong = np.array([r.local_score < 0.5 for r in train])
        name = max(naive, key=lambda n: auroc(np.asarray(naive[n])[rows], wrong))
        return lambda test: np.asarray(naive[name])[[index[id(r)] for r in test]]
    return fit


if __name__ == "__main__":
    main()
