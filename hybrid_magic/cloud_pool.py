"""Many cloud requests at once, for experiments: a bounded pool, a requests-per-minute limit,
Retry-After honoured (by CloudClient's retries), and every request written to the ledger's audit.

    with CloudPool(client, concurrency=4, requests_per_minute=60, ledger=ledger) as pool:
        for key, answer in pool.answers([(key, messages), ...], params):
            ...                                      # in the order they finish
        future = pool.submit(messages, params)       # or one at a time, a Future of a CloudAnswer

Each worker thread streams on its own shallow copy of the client: the copies
share the HTTP connection pool and the learned parameter fallbacks, while each
keeps its own `last_stats()`, which a shared client would mix up between threads.
"""
from __future__ import annotations

import copy
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Hashable

from .backoff import RateLimit
from .errors import CloudError
from .router.privacy import redact_messages
from .types import CloudStats, GenerationParams, Message


@dataclass(frozen=True)
class CloudAnswer:
    text: str
    stats: CloudStats
    error: str | None = None  # one line when the request failed after the client's retries


class CloudPool:
    def __init__(self, client, *, concurrency: int = 4, requests_per_minute: float | None = None,
                 ledger=None, detect_pii: bool = False):
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.client, self.concurrency, self.ledger, self.detect_pii = client, concurrency, ledger, detect_pii
        self.limit = RateLimit(requests_per_minute)
        self._local = threading.local()
        self._threads = ThreadPoolExecutor(concurrency, thread_name_prefix="hybrid-cloud")

    def __enter__(self) -> "CloudPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Requests not started are dropped; those in flight finish (and are audited) on their threads."""
        self._threads.shutdown(wait=False, cancel_futures=True)

    def submit(self, messages: list[Message], params: GenerationParams) -> Future:
        """A Future of the CloudAnswer; at most `concurrency` requests run at once."""
        return self._threads.submit(self.ask, messages, params)

    def answers(self, requests: Iterable[tuple[Hashable, list[Message]]],
                params: GenerationParams) -> Iterator[tuple[Hashable, CloudAnswer]]:
        """(key, answer) as each request finishes. Closing the iterator cancels those not started."""
        futures = {self.submit(messages, params): key for key, messages in requests}
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        finally:
            for future in futures:
                future.cancel()

    def ask(self, messages: list[Message], params: GenerationParams) -> CloudAnswer:
        """One request on this thread's client, after the rate limit lets it start; audited either way."""
        client = self._thread_client()
        self.limit.wait()
        try:
            text = "".join(event.text for event in client.stream(messages, params))
            answer = CloudAnswer(text, client.last_stats())
        except CloudError as error:
            answer = CloudAnswer("", client.last_stats(), str(error))
        if self.ledger is not None:
            audit_request(self.ledger, client, messages, answer.stats, answer.error, detect_pii=self.detect_pii)
        return answer

    def _thread_client(self):
        if getattr(self._local, "client", None) is None:
            self._local.client = copy.copy(self.client)
        return self._local.client


def audit_request(ledger, client, messages: list[Message], stats: CloudStats | None, error: str | None, *,
                  detect_pii: bool = False) -> int:
    """One row in the ledger's cloud_requests (what `%hybrid audit` lists), secrets redacted."""
    stored = redact_messages(messages, detect_pii=detect_pii)
    return ledger.record_cloud_request(
        run_id=None, host=client.host, model=client.model, messages=stored,
        prompt_tokens=stats and stats.prompt_tokens, completion_tokens=stats and stats.completion_tokens,
        cost_usd=stats and stats.cost_usd, ok=error is None, error=error)
