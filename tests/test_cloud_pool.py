"""The experiments' cloud pool: bounded concurrency, a requests-per-minute limit, Retry-After,
and the ledger's audit; against the stand-in cloud (mlx_lm.server) behind the counting proxy."""
from __future__ import annotations

import time

import pytest

from hybrid_magic.backoff import MAX_WAIT_S, RateLimit, retry_after_s
from hybrid_magic.cloud import CloudClient
from hybrid_magic.cloud_pool import CloudPool
from hybrid_magic.ledger import Ledger
from hybrid_magic.types import GenerationParams

SERVED = "default_model"
TINY = GenerationParams(max_tokens=2, top_alternatives=0)


@pytest.fixture
def proxy(cloud_proxy):
    """The counting proxy, patient: a busy 2-core machine answers concurrent requests slowly."""
    cloud_proxy.upstream_timeout_s = 300
    return cloud_proxy


def client_for(proxy, **options) -> CloudClient:
    return CloudClient(proxy.base_url, None, SERVED, **{"timeout_s": 300, **options})


@pytest.mark.parametrize("headers, expected", [
    ({"retry-after": "3"}, 3.0),
    ({"retry-after": "0.5"}, 0.5),
    ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
    ({"retry-after": "Thu, 01 Jan 1970 00:00:30 GMT"}, 20.0),  # an HTTP date, seen at t=10
    ({"retry-after": "soon"}, None),
    ({}, None),
])
def test_retry_after_reads_seconds_milliseconds_and_dates(headers, expected):
    assert retry_after_s(headers, now=lambda: 10.0) == expected


class FakeClock:
    """Pure timing logic: a clock that only moves when the limiter sleeps."""

    def __init__(self):
        self.now, self.slept = 0.0, []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_rate_limit_lets_n_start_per_minute_then_waits_for_the_oldest():
    clock = FakeClock()
    limit = RateLimit(3, clock=lambda: clock.now, sleep=clock.sleep)
    starts = []
    for _ in range(7):
        limit.wait()
        starts.append(clock.now)
    assert starts == [0.0, 0.0, 0.0, 60.0, 60.0, 60.0, 120.0]
    assert RateLimit(None).per_minute is None and RateLimit(0).per_minute is None
    with pytest.raises(ValueError, match="requests_per_minute"):
        RateLimit(-1)


def questions(n: int) -> list[tuple[int, list[dict]]]:
    return [(i, [{"role": "user", "content": f"What is {i} + {i}? key sk-test-{i:04d}abcdefghijklmnop"}])
            for i in range(n)]


def test_pool_keeps_its_concurrency_bound_and_audits_every_request(proxy, tmp_path):
    proxy.delay_s = 0.4  # long enough for requests to overlap when allowed
    ledger = Ledger(tmp_path / "ledger.sqlite")
    client = client_for(proxy)
    with CloudPool(client, concurrency=3, ledger=ledger) as pool:
        answers = dict(pool.answers(questions(6), TINY))
    assert sorted(answers) == list(range(6))
    assert all(a.error is None and a.text and a.stats.completion_tokens > 0 for a in answers.values())
    assert proxy.max_in_flight == 3  # it did overlap, and never more than the bound
    rows = ledger.cloud_requests()
    assert len(rows) == 6 and all(row["ok"] == 1 and row["host"] == client.host for row in rows)
    assert all("sk-test-" not in row["messages_json"] for row in rows)  # redacted as %%hybrid redacts


def test_pool_honours_retry_after_and_the_per_minute_limit(proxy, tmp_path):
    client = client_for(proxy, max_retries=2, backoff_s=0.0)
    proxy.error_headers = {"Retry-After": "1"}
    proxy.fail_next(429)
    started = time.monotonic()
    answers = dict(CloudPool(client, concurrency=2).answers(questions(2), TINY))
    assert all(a.error is None for a in answers.values()) and proxy.request_count == 3
    assert time.monotonic() - started >= 1.0  # waited what the server asked, not backoff_s (0)
    assert MAX_WAIT_S >= 1.0

    clock = FakeClock()
    limited = CloudPool(client, concurrency=4, requests_per_minute=2)
    limited.limit = RateLimit(2, clock=lambda: clock.now, sleep=clock.sleep)  # fake time: no minute-long test
    assert len(dict(limited.answers(questions(4), TINY))) == 4
    assert clock.now >= 60.0  # the third request had to wait for the window


def test_a_failed_request_comes_back_as_an_error_and_is_audited(proxy, tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite")
    client = client_for(proxy, max_retries=0)
    proxy.fail_next(500)
    [(key, answer)] = CloudPool(client, ledger=ledger).answers(questions(1), TINY)
    assert answer.text == "" and "500" in answer.error
    [row] = ledger.cloud_requests()
    assert row["ok"] == 0 and "500" in row["error"]
