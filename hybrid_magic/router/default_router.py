"""The default policy, `router`: the mean of two learned estimates over every signal's value and the answer's own
token features, a logistic regression's and gradient-boosted trees' (router/trees.py), shipped as data
(default_router.json) and registered when the router package is imported.

Both were fitted (experiments.learned.fit_pooled_rows and fit_pooled_trees_rows, averaged by
experiments.learned.averaged; run by benchmarks/fit_default_router.py) on labelled answers of the embedded
SmolLM2-135M-Instruct (transformers, greedy, 24 and 128 tokens) from seventy-nine sources of prompts written
separately: the generated development corpus, the 76 hand-written sets (benchmarks/heldout/everyday_a-zzx) and the
built-in and dev sets, on the values bounded as live bounds them. Each tree splits on the signals only or on the
answer's token features only (candidate 17), so a decision is still explained feature by feature (benchmarks/
heldout/log.md, candidate 18: on everyday_zzzg-zzzn, recorded after it was written down, it ranked the local
model's mistakes better than the linear router before it on 12 of 16 figures, mean AUROC 0.787 vs 0.755; trees
alone, candidate 17, had fallen by 0.126 on one set of everyday_zzy-zzzf). Besides the signals and the answer's
token features it reads the question's form (signals.QUESTION_FORMS) and the answer's fit to it
(router/answer_fit.py, candidate 7).
Each half's cut sits at the confidence knob's 0.5, where it hands off as many of its training answers (24 tokens)
as were wrong. Mid-answer it hands off only 1.0 log-odds below the knob (`early_margin`: its early handoffs ranked
worse than its estimate over the whole answer; log.md, candidate 11, passed on everyday_zs-zz).
On transformers it also weighs the prompt's hidden state (one term over 16 principal components, each half's
fitted with its weights as a fixed offset on the pooled prompts of the same sources,
experiments.learned.fit_state_term, and averaged; log.md, candidate 12, passed on everyday_zza-zzh); without a
state (another backend, another model) that term is absent. With another local model its scales do not fit:
calibrate the knob (`%hybrid calibrate`) or fit your own (`exp.fit_policy`).
That mean is then corrected for everyday prompts (log.md, candidate 25): small trees boosted around its log-odds
(experiments.learned.fit_correction_trees: each splits on the signals only or on the answer's token features only,
joined to its trees) on the 24-token answers of the easy rounds everyday_zzzzm-zzzzzr, as written and asked as
benchmarks ask them (experiments.instructed), and of the hard rounds everyday_zzzo-zzzzl; its cut moved again to
where it hands off as many of those answers as were wrong, and the reference quantiles for `%hybrid calibrate`
computed over them.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..types import DEFAULT_POLICY
from .learned_policy import LearnedPolicy, policy_from_data
from .policy import register_policy

DATA = Path(__file__).with_name("default_router.json")


def load() -> LearnedPolicy:
    return policy_from_data(json.loads(DATA.read_text(encoding="utf-8"))["policy"])


register_policy(DEFAULT_POLICY, load())
