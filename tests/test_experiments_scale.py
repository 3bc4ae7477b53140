"""Experiments at scale on the real model: batched runs, a real Dask LocalCluster (two worker
processes) that completes and resumes after an interruption, and the cloud side through the pool."""
from __future__ import annotations

import pytest

from hybrid_magic.experiments import Experiment
from hybrid_magic.experiments.store import ResultStore

ITEMS = [
    {"id": "add", "prompt": "What is 2 + 3? Answer with the number only.", "reference": 5, "scorer": "numeric"},
    {"id": "capital", "prompt": "What is the capital of France?", "reference": "Paris"},
    {"id": "colour", "prompt": "Name a colour.", "reference": "red"},
    {"id": "metres", "prompt": "Convert 3 kilometres to metres. Answer with the number only.", "reference": 3000,
     "scorer": "numeric"},
]


class InterruptingStore(ResultStore):
    """The real SQLite store; Ctrl-C arrives in the parent right after the k-th write."""

    def __init__(self, path, k: int):
        super().__init__(path)
        self.left = k

    def put(self, key, payload) -> None:
        super().put(key, payload)
        self.left -= 1
        if self.left == 0:
            raise KeyboardInterrupt


def experiment(store, model_dir, **options) -> Experiment:
    return Experiment(ITEMS, local="smollm2-135m", backend="transformers", cache_dir=str(model_dir.parent),
                      max_tokens=8, self_check=False, store=store, **options)


def test_dask_cluster_run_is_interrupted_resumes_and_loads_the_model_once_per_worker(model_dir, tmp_path):
    import distributed  # the experiments extra installs dask[distributed]
    path = tmp_path / "exp.sqlite"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as cluster, distributed.Client(cluster) as client:
        executor = client.get_executor()
        with pytest.raises(KeyboardInterrupt):
            experiment(InterruptingStore(path, k=1), model_dir, batch_size=2).run(executor=executor, progress=False)
        assert ResultStore(path).count("default", "local") == 1  # what landed before Ctrl-C is kept

        resumed = experiment(ResultStore(path), model_dir, batch_size=2)
        table = resumed.run(executor=executor, progress=False)
        assert resumed.computed == {"local": 3, "cloud": 0} and len(table) == 4  # only the rest
        again = experiment(ResultStore(path), model_dir, batch_size=2)
        assert again.run(executor=executor, progress=False).equals(table) and again.computed["local"] == 0

        from hybrid_magic import backends

        loads = client.run(lambda: backends.load_count)
        assert len(loads) == 2 and max(loads.values()) == 1  # each worker loaded the model at most once

    alone = experiment(ResultStore(tmp_path / "alone.sqlite"), model_dir, batch_size=1)
    assert alone.run(progress=False).local_answer.tolist() == table.local_answer.tolist()


def test_executor_needs_a_model_name_not_a_loaded_backend(model_dir, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from hybrid_magic import backends
    from hybrid_magic.errors import UsageError
    from hybrid_magic.models import resolve

    backend, _ = backends.get_backend("transformers", resolve("smollm2-135m", str(model_dir.parent)))
    exp = Experiment(ITEMS, local=backend, store=ResultStore(tmp_path / "e.sqlite"))
    with ThreadPoolExecutor(1) as pool, pytest.raises(UsageError, match="needs local= a model name"):
        exp.run(executor=pool, progress=False)


def test_cloud_side_runs_through_the_pool_and_is_audited(model_dir, cloud_proxy, tmp_path):
    from hybrid_magic.cloud import CloudClient
    from hybrid_magic.ledger import Ledger

    cloud_proxy.upstream_timeout_s = 300
    cloud = CloudClient(cloud_proxy.base_url, None, "default_model", timeout_s=300, max_retries=0)
    ledger = Ledger(tmp_path / "ledger.sqlite")
    cloud_proxy.fail_next(500)  # one request fails: not stored, and the next run retries it
    exp = experiment(ResultStore(tmp_path / "e.sqlite"), model_dir, cloud=cloud, cloud_concurrency=2,
                     ledger=ledger)
    with pytest.warns(UserWarning, match=r"1 cloud request\(s\) failed"):
        exp.run(progress=False)
    assert exp.computed == {"local": 4, "cloud": 3} and cloud_proxy.max_in_flight <= 2
    assert exp.run(progress=False).cloud_answer.str.len().gt(0).all() and exp.computed == {"local": 0, "cloud": 1}
    rows = ledger.cloud_requests()
    assert len(rows) == 5 and sum(row["ok"] for row in rows) == 4  # every request audited, the failure too
