"""Experiment: run a dataset on the local model (to the end, every token's logprobs kept)
and on the cloud, store each generation in SQLite, then analyse offline.

    exp = Experiment(builtin_mix(30), max_tokens=24, cloud=CloudClient(...))
    exp.run()                       # resumable; a re-run computes nothing
    exp.run(executor=client.get_executor())   # batches on a Dask (or any Executor) cluster
    exp.results()                   # one row per item
    exp.sweep("router")             # replay, no model call
    exp.calibrate(target_handoff_rate=0.3)
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..backends.base import BatchRow, fit_params
from ..cascade import NEVER, Budget, Prepared, PromptFacts, RecordedSource, Rules, prepare, run_cascade
from ..model_handoff import offer_for
from ..router import signals as sig
from ..types import DEFAULT_POLICY, GenerationParams, Message, TokenEvent
from . import analysis, replay
from .datasets import item_chat, item_key, load_dataset
from .metrics import ORACLE_LABEL
from .recording import RECORDING_VERSION, LocalRequest, as_ledger, cloud_recording, recording, state_rows
from .scorers import resolve_scorer
from .store import GenerationKey, ResultStore


class Experiment:
    def __init__(self, dataset: Any, *, scorer: Any = "auto", local: Any = "smollm2-135m", backend: str = "auto",
                 cloud: Any = None, name: str = "default", max_tokens: int = 24, system: str | None = None,
                 thresholds: sig.Thresholds | None = None, self_check: bool = False,
                 store: ResultStore | str | None = None, cache_dir: str | None = None,
                 batch_size: int | None = None, cloud_concurrency: int = 4,
                 requests_per_minute: float | None = None, ledger: Any = None, model_handoff: bool = False):
        self.items = load_dataset(dataset)
        self.scorer = resolve_scorer(scorer)
        self.local, self.backend_name, self.cloud = local, backend, cloud
        self.name, self.system, self.self_check = name, system, self_check
        self.params = GenerationParams(max_tokens=max_tokens, temperature=0.0)
        self.thresholds = thresholds or sig.Thresholds()
        self.store = store if isinstance(store, ResultStore) else ResultStore(store)
        self.cache_dir = cache_dir
        self._backend = None if isinstance(local, str) else local
        self.batch_size = batch_size  # None: scale.BATCH_SIZES for the backend
        self.cloud_concurrency, self.requests_per_minute = cloud_concurrency, requests_per_minute
        self.ledger = ledger  # where cloud requests are audited; None: the user's ledger
        self.computed = {"local": 0, "cloud": 0}  # fresh generations in the last run()
        self.model_handoff = model_handoff  # offer the local model the handoff (%%hybrid: HybridMagics.model_handoff)
        self.cloud_errors: list[str] = []  # requests that failed in the last run(): not stored, retried next time
        self.labels = "scored items"  # where right/wrong come from, as fit_policy's report says it

    @classmethod
    def from_votes(cls, ledger: Any = None, **options) -> Experiment:
        """Your voted %%compare cells as labelled items (experiments/votes.py has the rule), for fit_policy.
        `ledger`: a Ledger or its path (None: yours); `options` as for Experiment (local, max_tokens, ...)."""
        from .votes import from_votes

        return from_votes(cls, as_ledger(ledger), options)

    def __getstate__(self) -> dict:
        """What an executor's worker receives: no store, cloud, ledger, items or loaded model."""
        return dict(self.__dict__, store=None, cloud=None, ledger=None, items=[], scorer=None, _backend=None)

    # ---- identity of a stored generation --------------------------------------------------
    @property
    def oracle(self) -> bool:
        return self.cloud is None

    @property
    def cloud_mode(self) -> str:
        return ORACLE_LABEL if self.oracle else "measured cloud"

    def _backend_kind(self) -> str:
        if self._backend is not None:
            return self._backend.name
        from ..backends import backend_name

        return backend_name(self.backend_name, self.local)

    def _local_model_key(self) -> str:
        model = self._backend.model.name if self._backend is not None else self.local
        return f"{self._backend_kind()}:{model}"

    def _key(self, item: dict, side: str) -> GenerationKey:
        params = {"max_tokens": self.params.max_tokens, "temperature": self.params.temperature,
                  "system": self.system}
        if side != "cloud":  # local generations (with the prompt state on the first token), recorded
            # through the cascade driver with the handoff offered as %%hybrid does
            params.update(recording=RECORDING_VERSION, model_handoff=self.model_handoff, self_check=self.self_check)
            model = self._local_model_key()
        else:
            model = f"{self.cloud.model}@{self.cloud.host}"
        return GenerationKey(self.name, item_key(item), side, model, GenerationKey.params_json(params))

    def messages(self, item: dict) -> list[Message]:
        """The item's chat, as %%hybrid lays it out (system prompt, then the prompt)."""
        return item_chat(item, self.system)

    def prepared(self, item: dict, backend=None) -> Prepared:
        """What the local model is sent for this item (the handoff instruction or tool included, as
        %%hybrid sends it by default) and its before-signals."""
        backend = backend or self.local_backend()
        messages = self.messages(item)
        offer = offer_for(self.model_handoff, "cascade", backend)
        context = self.thresholds.context_budget or backend.context_length

        def facts(prompt_tokens: int) -> PromptFacts:
            return PromptFacts("\n".join(m["content"] for m in messages), prompt_tokens, self.params.max_tokens,
                               context, budget=Budget(0.0, None, 0.0))

        return prepare(messages, offer, backend.count_prompt_tokens, facts)

    def record_item(self, item: dict, events: list[TokenEvent], elapsed: list[float | None] | None = None) -> dict:
        """Store an item's local generation made elsewhere from `prepared(item)`'s messages and tools, with
        this experiment's max_tokens: the events run through the cascade driver with the NEVER rule,
        exactly as run() records. Returns the stored payload."""
        backend = self.local_backend()
        source = RecordedSource(events, elapsed, self.params.max_tokens)
        payload = self._payload(item, source, self.prepared(item, backend), backend)
        self._store("local", item, payload)
        return payload

    def _payload(self, item: dict, source, prepared: Prepared, backend) -> dict:
        rules = Rules(thresholds=self.thresholds, fmt=item.get("format", "text"))
        verdict = run_cascade(prepared, rules, lambda _first: source, NEVER)
        if verdict.local.interrupted:
            raise KeyboardInterrupt  # the backend swallowed Ctrl-C; nothing is stored for this item
        return recording(verdict.local, prepared, source.max_tokens, backend)

    # ---- running --------------------------------------------------------------------------
    def run(self, *, limit: int | None = None, progress: bool = True, executor=None):
        """Generate what is not stored yet and return results(); Ctrl-C keeps what was stored.

        Local items go in batches of `batch_size` (on `executor`, any concurrent.futures.Executor,
        when given), cloud items through a pool of `cloud_concurrency` requests at the same time.
        """
        from ..cloud_pool import CloudPool
        from . import scale

        self.computed, self.cloud_errors = {"local": 0, "cloud": 0}, []
        todo = self.items[:limit] if limit is not None else self.items
        local = [item for item in todo if self.store.get(self._key(item, "local")) is None]
        cloud = [item for item in todo if self.cloud is not None and self.store.get(self._key(item, "cloud")) is None]
        size = self.batch_size or scale.default_batch_size(self._backend_kind())
        pool = CloudPool(self.cloud, concurrency=self.cloud_concurrency, requests_per_minute=self.requests_per_minute,
                         ledger=self._audit_ledger()) if cloud else None
        with scale.progress(local, cloud, f"experiment {self.name}", progress) as bar:
            try:
                for side, item, payload in scale.generations(self, local, cloud, batch_size=size,
                                                             executor=executor, pool=pool):
                    self._store(side, item, payload)
                    bar.landed(side, item)
            finally:
                if pool is not None:
                    pool.close()
        scale.warn_cloud_errors(self.cloud_errors)
        return self.results()

    def _store(self, side: str, item: dict, payload: dict | None) -> None:
        if payload is None:
            return
        self.store.put(self._key(item, side), payload)
        self.computed[side] += 1

    def _audit_ledger(self):
        self.ledger = as_ledger(self.ledger)
        return self.ledger

    # ---- what scale.py calls (here and in an executor's workers) ----------------------------
    def local_request(self, item: dict, backend) -> LocalRequest:
        prepared = self.prepared(item, backend)
        if prepared.tools:
            raise NotImplementedError("batched generation does not pass tools yet: use model_handoff=False")
        params = fit_params(backend, prepared.facts.prompt_tokens, self.params)  # counted once, by prepare
        return LocalRequest(prepared.messages, params, prepared)

    def local_payload(self, item: dict, request: LocalRequest, row: BatchRow, backend) -> dict:
        """The stored form of one generated answer (the driver, NEVER rule, over the row's events);
        scale.py adds the self-check's p_yes, batched."""
        return self._payload(item, RecordedSource(row.events, row.elapsed, request.params.max_tokens),
                             request.prepared, backend)

    def cloud_payload(self, answer) -> dict | None:
        """A cloud answer as stored; None for a failed request (not stored, so a re-run retries it)."""
        if answer.error is not None:
            self.cloud_errors.append(answer.error)
            return None
        return cloud_recording(answer.text, answer.stats)

    def local_backend(self):
        if self._backend is None:
            from ..backends import load_backend
            from ..config import HybridSettings

            cache_dir = self.cache_dir or HybridSettings().cache_dir
            self._backend, _ = load_backend(self.backend_name, self.local, cache_dir)
        return self._backend

    # ---- reading back -------------------------------------------------------------------
    def recorded(self) -> list[replay.Recorded]:
        """Items whose generations are stored (all of them after a finished run), scored."""
        found = []
        for item in self.items:
            local = self.store.get(self._key(item, "local"))
            cloud = self.store.get(self._key(item, "cloud")) if self.cloud is not None else None
            if local is None or (self.cloud is not None and cloud is None):
                continue
            cloud_score = 1.0 if cloud is None else self.scorer(cloud["text"], item)
            found.append(replay.Recorded(item, local, cloud, self.scorer(local["text"], item), cloud_score,
                                         self.params.max_tokens, self.system))
        return found

    def results(self):
        """One row per stored item: answers, scores, signals, features, timings, tokens, cost."""
        return analysis.results_table(self.recorded(), self.thresholds, self.cloud_mode)

    def to_csv(self, path: str) -> None:
        self.results().to_csv(path, index=False)

    def to_parquet(self, path: str) -> None:
        self.results().to_parquet(path, index=False)

    # ---- offline analysis (no model call) ---------------------------------------------------
    def sweep(self, policy: str = DEFAULT_POLICY, thresholds=None):
        return replay.sweep(self.recorded(), policy, thresholds, self.thresholds)

    def summary(self):
        """APGR, CPT, AUROC of the default policy, each signal and feature, random and perfect."""
        return analysis.router_table(self.recorded(), self.thresholds, self.cloud_mode)

    def calibrate(self, *, target_quality: float | None = None, target_handoff_rate: float | None = None,
                  policy: str = DEFAULT_POLICY):
        return analysis.calibrate(self.recorded(), policy, self.thresholds, target_quality, target_handoff_rate)

    def fit_policy(self, name: str = "learned", *, test_size: float = 0.5, seed: int = 0, self_check: bool = False,
                   hidden_states: bool = True):
        """A learned policy on this experiment's items; with hidden_states (transformers only) the local
        model's own state at the last prompt token is a feature too (recorded with the tokens: no model call)."""
        from .learned import fit_policy

        recs = self.recorded()
        states = self.hidden_states(recs) if hidden_states else None
        report = fit_policy(recs, name, self.thresholds, test_size=test_size, seed=seed, self_check=self_check,
                            states=states, labels=self.labels)
        if hidden_states and states is None:
            note = (f"Hidden states were not used: the {self._backend_kind()} backend exposes none "
                    "(Experiment(..., backend='transformers') reads them).")
            report = replace(report, note=note)
        return report

    @staticmethod
    def hidden_states(recs: list[replay.Recorded]):
        """One row per recorded item: the prompt state recorded with its tokens (what a policy with
        hidden-state terms reads live and in replay), or None when the backend reads none."""
        return state_rows(recs)

    def plot_cost_quality(self, policy: str = DEFAULT_POLICY, chosen=None, ax=None):
        from .plots import plot_cost_quality

        chosen_row = None if chosen is None else {"handoff_rate": chosen.handoff_rate, "quality": chosen.quality,
                                                 "threshold": chosen.threshold}
        return plot_cost_quality(self.sweep(policy), chosen_row, oracle=self.oracle, ax=ax)

    def plot_roc(self, ax=None):
        from .plots import plot_roc

        return plot_roc(analysis.roc_curves(self.recorded(), self.thresholds), oracle=self.oracle,
                        always=(analysis.DEFAULT_POLICY_ROW, analysis.CASCADE_ROW), ax=ax)

    def plot_handoff_reasons(self, policy: str = DEFAULT_POLICY, ax=None):
        from .plots import plot_handoff_reasons

        counts = analysis.handoff_reasons(self.recorded(), policy, self.thresholds)
        return plot_handoff_reasons(counts, oracle=self.oracle, ax=ax)

    def plot_timelines(self, n: int = 6, policy: str = DEFAULT_POLICY, cols: int = 3):
        """Small multiples of the handoff timelines of the first `n` items `policy` hands off (a Figure)."""
        from .plots import plot_timelines, timeline_panels

        panels = timeline_panels(self.recorded(), policy, self.thresholds, n)
        return plot_timelines(panels, policy=policy, oracle=self.oracle, cols=cols)
