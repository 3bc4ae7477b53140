"""Study: would a prior from the prompt's hidden state, shipped with the model, make answer_estimate
carry over better? (It is not shipped: this prints why.)

The prior: a standardiser, 6 principal components of the prompt state (the first token's
`prompt_state`, transformers) and a logistic regression over them and answer_estimate's log-odds,
fitted on labelled answers. Measured two ways, answer_estimate alone (no cascade), AUROC for local
errors and share of achievable gain:
1. leave-family-out on the development corpus: 100 random mixes of 9 of its 28 families, each scored
   by a prior fitted on the other 19;
2. out of the corpus's style: fitted on the whole corpus, scored on the built-in sets (46 items)
   and the dev set (60 items), which no generator wrote; with the share of answers below 0.5.

    python benchmarks/study_prompt_prior.py --store /tmp/study/corpus.sqlite
"""
from __future__ import annotations

import argparse
import math

import numpy as np

from hybrid_magic.experiments import Experiment, builtin_mix
from hybrid_magic.experiments.corpus import corpus
from hybrid_magic.experiments.devset import dev_set
from hybrid_magic.experiments.generalisation import fixed_risk, mix_table
from hybrid_magic.experiments.metrics import router_summary
from hybrid_magic.router import confidence

COMPONENTS = 6


def tokens_logit(rec) -> float:
    """answer_estimate's log-odds (0 when the answer has no logprobs)."""
    value = confidence.answer_estimate(rec.events)
    return 0.0 if value is None else math.log(value / (1.0 - value))


def fit_prior(recs):
    """recs -> a function recs -> P(right), from the prompt state's components and the tokens' log-odds."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    states = np.array([rec.state for rec in recs], dtype=float)
    reducer = make_pipeline(StandardScaler(), PCA(COMPONENTS, random_state=0)).fit(states)
    spread = reducer.transform(states).std(axis=0)

    def features(some):
        reduced = reducer.transform(np.array([rec.state for rec in some], dtype=float)) / spread
        return np.column_stack([reduced, [tokens_logit(rec) for rec in some]])

    right = np.array([rec.local_score >= 0.5 for rec in recs])
    model = LogisticRegressionCV(Cs=[0.03, 0.1, 0.3, 1.0], cv=5, scoring="roc_auc", max_iter=2000).fit(features(recs), right)
    return lambda some: model.predict_proba(features(some))[:, 1]


def record(items, name: str, store: str):
    exp = Experiment(items, backend="transformers", max_tokens=24, name=name, store=store, batch_size=16)
    exp.run(progress=False)
    return exp.recorded()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default=None)
    args = parser.parse_args()
    recs = record(corpus(24), "corpus", args.store)
    estimate = np.array([1.0 - (confidence.answer_estimate(r.events) or 0.5) for r in recs])
    fits = {"answer_estimate, tokens only": fixed_risk(recs, estimate),
            "answer_estimate + prompt-state prior": lambda train: (lambda test: 1.0 - fit_prior(train)(test))}
    print("corpus(24), mixes of 9 unseen families (100), each prior fitted on the other families:")
    print(mix_table(recs, fits).round(3).to_string())
    prior = fit_prior(recs)
    print("\nfitted on the whole corpus, scored out of its style:")
    for name, items in (("builtin (46)", builtin_mix(46)), ("dev set (60)", dev_set())):
        other = record(items, name.split()[0], args.store)
        local, cloud = np.array([r.local_score for r in other]), np.array([r.cloud_score for r in other])
        plain = np.array([confidence.answer_estimate(r.events) or 0.5 for r in other])
        for label, p_right in (("tokens only", plain), ("with the prior", prior(other))):
            summary = router_summary(1.0 - p_right, local, cloud)
            print(f"  {name}, local accuracy {np.mean(local >= 0.5):.2f}, {label}: AUROC {summary['auroc']:.3f}, "
                  f"share of gain {summary['gain_share']:.2f}, below 0.5: {np.mean(p_right < 0.5):.2f}")


if __name__ == "__main__":
    main()
