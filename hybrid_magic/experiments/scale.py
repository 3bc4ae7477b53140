"""An experiment at scale: local items in batches, on this process or on any
`concurrent.futures.Executor` (a Dask or Ray cluster), cloud items through a bounded pool.

`generations` yields ("local" | "cloud", item, payload) as each one lands;
the caller (Experiment.run) is the only writer of the store, so a Ctrl-C or a
crash keeps everything stored so far and a re-run computes only the rest.

On an executor, a task is one batch of items: the worker receives a copy of the
experiment without its store, cloud client or loaded model (see
Experiment.__getstate__), loads the model on its first task and keeps it
(`get_backend` holds one per process), and sends the payloads back.
"""
from __future__ import annotations

import uuid
from collections import defaultdict
from contextlib import contextmanager
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait

from ..cloud_pool import CloudPool
from ..errors import UsageError
from ..selfcheck import probabilities_correct
from .datasets import item_key

# Items per forward pass when the caller does not choose, by backend; measured with
# benchmarks/bench_experiments.py (README). Backends not named here generate one at a time.
BATCH_SIZES = {"transformers": 16, "mlx": 16}


def default_batch_size(backend_name: str) -> int:
    return BATCH_SIZES.get(backend_name, 1)


def local_payloads(exp, items: Sequence[dict], batch_size: int) -> Iterator[tuple[dict, dict]]:
    """(item, payload) on this process, a batch at a time; the self-checks of a batch's answers
    run as one batch too."""
    backend = exp.local_backend()
    requests = [exp.local_request(item, backend) for item in items]
    by_params: dict = defaultdict(list)  # items whose max_tokens the context cut run in their own batches
    for index, request in enumerate(requests):
        by_params[request.params].append(index)
    finished: list[tuple[dict, object, dict]] = []
    for params, indices in by_params.items():
        conversations = [requests[i].messages for i in indices]
        for row in backend.generate_batch(conversations, params, batch_size=batch_size):
            index = indices[row.index]
            payload = exp.local_payload(items[index], requests[index], row, backend)
            finished.append((items[index], requests[index], payload))
            if len(finished) == batch_size:
                yield from _self_checked(exp, backend, finished, batch_size)
                finished = []
    yield from _self_checked(exp, backend, finished, batch_size)


def _self_checked(exp, backend, finished, batch_size: int) -> Iterator[tuple[dict, dict]]:
    """Sets each payload's p_yes (the self-check signal's input) when the experiment asks for it."""
    answered = [(request, payload) for _, request, payload in finished if payload["text"].strip()]
    if exp.self_check and answered:
        checks = [(request.messages, payload["text"]) for request, payload in answered]
        for (_, payload), p_yes in zip(answered, probabilities_correct(backend, checks, batch_size)):
            payload["p_yes"] = p_yes
    yield from ((item, payload) for item, _, payload in finished)


def worker_batch(exp, items: Sequence[dict], batch_size: int, run_token: str = "") -> list[tuple[dict, dict]]:
    """One executor task: a batch of items generated where the task runs.

    `run_token` is unused here: it makes each run's tasks distinct, so a cluster that names
    tasks by their arguments (dask) never hands back a batch an interrupted run cancelled."""
    return list(local_payloads(exp, items, batch_size))


def executor_payloads(exp, items: Sequence[dict], batch_size: int, executor: Executor,
                      cloud: dict[Future, dict]) -> Iterator[tuple[str, dict, dict]]:
    """Batches as executor tasks; cloud answers that land meanwhile are yielded too."""
    if not isinstance(exp.local, str):
        raise UsageError("hybrid_magic: run(executor=...) needs local= a model name: "
                         "a loaded backend cannot travel to another process.")
    run_token = uuid.uuid4().hex
    tasks = {executor.submit(worker_batch, exp, items[i:i + batch_size], batch_size, run_token)
             for i in range(0, len(items), batch_size)}
    try:
        while tasks:
            done, _ = wait(tasks | set(cloud), return_when=FIRST_COMPLETED)
            for future in done & tasks:
                tasks.discard(future)
                yield from (("local", item, payload) for item, payload in future.result())
            yield from _landed_cloud(exp, cloud, block=False)
    finally:
        for future in tasks:
            future.cancel()


def generations(exp, local_items: Sequence[dict], cloud_items: Sequence[dict], *, batch_size: int,
                executor: Executor | None, pool: CloudPool | None) -> Iterator[tuple[str, dict, dict]]:
    """Every missing generation, local and cloud at the same time, as each lands."""
    cloud = {pool.submit(exp.messages(item), exp.params): item for item in cloud_items} if pool else {}
    try:
        if executor is not None:
            yield from executor_payloads(exp, local_items, batch_size, executor, cloud)
        else:
            for item, payload in local_payloads(exp, local_items, batch_size):
                yield "local", item, payload
                yield from _landed_cloud(exp, cloud, block=False)
        yield from _landed_cloud(exp, cloud, block=True)
    finally:
        for future in cloud:
            future.cancel()


def _landed_cloud(exp, cloud: dict[Future, dict], *, block: bool) -> Iterator[tuple[str, dict, dict]]:
    while cloud:
        done = [f for f in cloud if f.done()] or (list(wait(cloud, return_when=FIRST_COMPLETED)[0]) if block else [])
        if not done:
            return
        for future in done:  # a failed request's payload is None: not stored, a re-run retries it
            yield "cloud", cloud.pop(future), exp.cloud_payload(future.result())


class _Progress:
    """tqdm over items (an item is done when its local and cloud generations are stored)."""

    def __init__(self, bar, waiting: dict[str, int]):
        self.bar, self.waiting = bar, waiting

    def landed(self, side: str, item: dict) -> None:
        key = item_key(item)
        self.waiting[key] -= 1
        if self.waiting[key] == 0:
            self.bar.update(1)


@contextmanager
def progress(local: list[dict], cloud: list[dict], desc: str, enabled: bool):
    from tqdm.auto import tqdm

    waiting: dict[str, int] = {}
    for item in local + cloud:
        waiting[item_key(item)] = waiting.get(item_key(item), 0) + 1
    with tqdm(total=len(waiting), desc=desc, unit="item", disable=not enabled) as bar:
        yield _Progress(bar, waiting)


def warn_cloud_errors(errors: list[str]) -> None:
    if errors:
        import warnings

        warnings.warn(f"hybrid_magic: {len(errors)} cloud request(s) failed and were not stored "
                      f"(first: {errors[0]}); run() again to retry them.", stacklevel=3)
