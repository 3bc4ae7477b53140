"""CloudClient against a real mlx_lm.server (the stand-in cloud), directly or through LoopbackProxy.

mlx_lm.server serves the model it was started with under the name "default_model"
(it would try to load any other name as a path or hub id).
"""
from __future__ import annotations

import itertools
import json
import threading
import time

import pytest
from conftest import free_port
from proxy import LoopbackProxy

from hybrid_magic.cloud import BAD_KEY_MESSAGE, NO_KEY_MESSAGE, CloudClient, match_price
from hybrid_magic.errors import CloudError
from hybrid_magic.types import GenerationParams

SERVED = "default_model"
FRANCE = [{"role": "user", "content": "What is the capital of France?"}]
TINY = GenerationParams(max_tokens=4, top_alternatives=3)
SECRET = "sk-test-SECRET123"


def client_for(base_url: str, **options) -> CloudClient:
    options = {"timeout_s": 30.0, "max_retries": 2, "backoff_s": 0.05, **options}
    return CloudClient(base_url, options.pop("api_key", None), options.pop("model", SERVED), **options)


def run(client: CloudClient, params: GenerationParams = TINY) -> list:
    return list(client.stream(FRANCE, params))


def test_streams_an_answer_with_usage_timings_and_cost(cloud_proxy):
    client = client_for(cloud_proxy.base_url, prices={SERVED: [1000.0, 3000.0]})
    params = GenerationParams(max_tokens=12, seed=7, stop=("\n\n",), top_alternatives=3)
    events = run(client, params)
    *tokens, last = events
    assert "Paris" in "".join(e.text for e in tokens)
    assert all(e.finish_reason is None for e in tokens) and last.finish_reason in {"stop", "length"}
    timings = last.timings
    assert timings.prompt_tokens > 10  # from usage: counting deltas cannot know the prompt
    assert timings.completion_tokens >= len(tokens)
    assert 0 < timings.ttft_s <= timings.seconds
    stats = client.last_stats()
    assert (stats.model, stats.host, stats.finish_reason) == (SERVED, cloud_proxy.base_url.split("/")[2], last.finish_reason)
    assert stats.cost_usd == pytest.approx((timings.prompt_tokens * 1000 + timings.completion_tokens * 3000) / 1e6)
    body = cloud_proxy.requests[0]["body"]
    assert body["model"] == SERVED and body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert (body["max_tokens"], body["seed"], body["stop"], body["temperature"]) == (12, 7, ["\n\n"], 0.0)


def test_mlx_server_accepts_logprobs_but_streams_none(cloud_proxy):
    events = run(client_for(cloud_proxy.base_url))
    body = cloud_proxy.requests[0]["body"]
    assert body["logprobs"] is True and body["top_logprobs"] == 3
    # mlx_lm.server 0.32 only puts logprobs in non-streamed answers.
    assert all(e.logprob is None and e.top_logprobs == () and e.entropy is None for e in events)


def test_rejected_logprobs_are_dropped_once_and_remembered(cloud_proxy):
    client = client_for(cloud_proxy.base_url)
    too_many = GenerationParams(max_tokens=3, top_alternatives=20)  # mlx_lm.server allows at most 11
    assert run(client, too_many)[-1].is_last
    assert run(client, too_many)[-1].is_last
    bodies = [r["body"] for r in cloud_proxy.requests]
    assert len(bodies) == 3  # 400, retry without logprobs, then straight without
    assert bodies[0]["top_logprobs"] == 20
    assert all("logprobs" not in b and "top_logprobs" not in b for b in bodies[1:])


def test_a_refused_parameter_named_by_the_server_is_fixed(cloud_proxy):
    cloud_proxy.fail_next(400, message="Unsupported parameter: 'max_tokens' is not supported "
                                       "with this model. Use 'max_completion_tokens' instead.")
    assert run(client_for(cloud_proxy.base_url))[-1].is_last
    first, second = (r["body"] for r in cloud_proxy.requests)
    assert first["max_tokens"] == TINY.max_tokens and "max_completion_tokens" not in first
    assert second["max_completion_tokens"] == TINY.max_tokens and "max_tokens" not in second
    assert second["logprobs"] is True  # only the named parameter changed


def test_a_400_naming_nothing_is_retried_once_without_logprobs_then_reported(cloud_proxy):
    cloud_proxy.fail_next(400, times=2, message=f"bad request from {SECRET}")  # a server echoing the key
    with pytest.raises(CloudError, match=r"rejected the request \(400\): bad request from \*\*\*") as caught:
        run(client_for(cloud_proxy.base_url, api_key=SECRET))
    assert "SECRET123" not in str(caught.value)
    first, second = (r["body"] for r in cloud_proxy.requests)
    assert first["logprobs"] is True and "logprobs" not in second


def test_unknown_price_gives_no_cost(cloud_proxy):
    client = client_for(cloud_proxy.base_url)
    run(client)
    assert client.last_stats().completion_tokens > 0
    assert client.last_stats().cost_usd is None  # "default_model" has no price: unknown, not free


def test_without_usage_tokens_are_counted_and_cost_is_unknown(cloud_proxy):
    cloud_proxy.transform_body = lambda body: {k: v for k, v in body.items() if k != "stream_options"}
    client = client_for(cloud_proxy.base_url, prices={SERVED: [1.0, 1.0]})
    *tokens, last = run(client)
    assert tokens and last.timings.completion_tokens == len(tokens)
    assert last.timings.prompt_tokens == 0
    assert client.last_stats().cost_usd is None  # the prompt size is unknown, so the cost is too


def test_interrupt_mid_stream_keeps_partial_stats(cloud_proxy):
    client = client_for(cloud_proxy.base_url)
    stream = client.stream(FRANCE, GenerationParams(max_tokens=10))
    first = next(stream)
    with pytest.raises(KeyboardInterrupt):
        stream.throw(KeyboardInterrupt)  # Ctrl-C lands where the consumer waits for a token
    stats = client.last_stats()
    assert first.text and stats.finish_reason == "interrupted"
    assert stats.completion_tokens == 1 and stats.cost_usd is None
    assert run(client)[-1].is_last  # the client still works afterwards


def test_bad_key_is_named_but_never_shown(cloud_proxy):
    cloud_proxy.fail_next(401)
    client = client_for(cloud_proxy.base_url, api_key=SECRET)
    with pytest.raises(CloudError) as caught:
        run(client)
    assert str(caught.value) == BAD_KEY_MESSAGE
    assert "SECRET123" not in str(caught.value)
    assert cloud_proxy.request_count == 1  # a bad key is not retried


def test_forbidden_names_403_and_the_model(cloud_proxy):
    cloud_proxy.fail_next(403)
    with pytest.raises(CloudError, match=r"403.*permissions") as caught:
        run(client_for(cloud_proxy.base_url, api_key=SECRET))
    assert SERVED in str(caught.value)


def test_unknown_model_on_the_real_server_is_a_404_naming_it(cloud_server):
    client = client_for(cloud_server, model="/no/such/model")
    with pytest.raises(CloudError, match=r"'/no/such/model' \(404\): check --cloud-model"):
        run(client)


def test_rate_limit_once_then_success(cloud_proxy):
    cloud_proxy.fail_next(429)
    events = run(client_for(cloud_proxy.base_url))
    assert events[-1].is_last and "".join(e.text for e in events)
    assert cloud_proxy.request_count == 2


def test_rate_limit_persisting_gives_up_after_max_retries(cloud_proxy):
    cloud_proxy.fail_next(429, times=5)
    with pytest.raises(CloudError, match=r"rate limited \(429\) after 1 retries"):
        run(client_for(cloud_proxy.base_url, max_retries=1))
    assert cloud_proxy.request_count == 2


def test_server_error_persisting_gives_up_after_max_retries(cloud_proxy):
    cloud_proxy.fail_next(500, times=10)
    started = time.monotonic()
    with pytest.raises(CloudError, match=r"server failed \(500\) after 2 retries"):
        run(client_for(cloud_proxy.base_url, max_retries=2, backoff_s=0.2))
    assert cloud_proxy.request_count == 3
    assert time.monotonic() - started >= 0.2 + 0.4  # exponential backoff between tries


def test_dropped_connection_is_retried(cloud_proxy):
    cloud_proxy.drop_next()
    assert run(client_for(cloud_proxy.base_url))[-1].is_last
    assert cloud_proxy.request_count == 2


def test_slow_server_times_out_without_retrying(cloud_proxy):
    cloud_proxy.delay_s = 5.0
    started = time.monotonic()
    with pytest.raises(CloudError, match=r"timed out after 0.5s"):
        run(client_for(cloud_proxy.base_url, timeout_s=0.5))
    assert time.monotonic() - started < 3.0
    assert cloud_proxy.request_count == 1


def test_stream_cut_in_the_middle_becomes_cloud_error(cloud_proxy):
    cloud_proxy.cut_next_stream(after_chunks=2)
    received = []
    with pytest.raises(CloudError, match=r"broke after \d+ tokens"):
        for event in client_for(cloud_proxy.base_url).stream(FRANCE, GenerationParams(max_tokens=10)):
            received.append(event)
    assert received and all(not e.is_last for e in received)


def test_server_down_names_the_url():
    url = f"http://127.0.0.1:{free_port()}/v1"
    client = client_for(url, max_retries=1)
    with pytest.raises(CloudError) as caught:
        run(client)
    assert str(caught.value) == f"Cannot reach {url}: is the server running? (OPENAI_BASE_URL)"


def test_no_key_is_refused_unless_the_server_is_on_loopback():
    with pytest.raises(CloudError) as caught:
        CloudClient("https://api.openai.com/v1", None, "gpt-4o-mini")
    assert str(caught.value) == NO_KEY_MESSAGE
    with pytest.raises(CloudError):
        CloudClient("http://10.0.0.5:8080/v1", "", "m")
    for url in ("http://localhost:8080/v1", "http://127.0.0.2:1/v1", "http://[::1]:8080/v1"):
        assert CloudClient(url, None, "m").model == "m"


def test_host_keeps_only_host_and_port():
    client = CloudClient("https://user:pw@api.example.com:8443/v1/?key=sk-abc", SECRET, "m")
    assert client.host == "api.example.com:8443"
    assert CloudClient("https://api.openai.com/v1", SECRET, "m").host == "api.openai.com"
    assert CloudClient("http://[::1]:9000/v1", None, "m").host == "[::1]:9000"


@pytest.mark.parametrize("model, expected", [
    ("gpt-4o-mini", (0.15, 0.60)),
    ("gpt-4o-mini-2024-07-18", (0.15, 0.60)),  # longest prefix, not "gpt-4o"
    ("gpt-4o-2024-08-06", (2.50, 10.00)),
    ("my-local-model", None),
])
def test_price_matching(model, expected):
    from hybrid_magic.config import DEFAULT_PRICES

    price = match_price(model, DEFAULT_PRICES)
    assert (tuple(price) if price else None) == expected


def test_cost_and_estimate_arithmetic():
    client = CloudClient("https://api.openai.com/v1", SECRET, "gpt-4o-mini-2024-07-18")
    assert client.cost(1_000_000, 0) == pytest.approx(0.15)
    assert client.cost(2000, 500) == pytest.approx((2000 * 0.15 + 500 * 0.60) / 1e6)
    assert client.estimate_cost(100, 64) == pytest.approx(client.cost(100, 64))
    custom = CloudClient("https://x.example/v1", SECRET, "tiny", prices={"tiny": [2.0, 8.0]})
    assert custom.cost(10, 20) == pytest.approx((10 * 2.0 + 20 * 8.0) / 1e6)
    unknown = CloudClient("https://x.example/v1", SECRET, "mystery", prices={"tiny": [2.0, 8.0]})
    assert unknown.cost(10, 20) is None and unknown.estimate_cost(10, 20) is None
    assert unknown.last_stats().cost_usd is None


def test_proxy_stops_cleanly_with_a_request_still_waiting(cloud_server):
    before = set(threading.enumerate())
    with LoopbackProxy(cloud_server) as proxy:
        proxy.delay_s = 30.0
        port = proxy.port
        client = client_for(proxy.base_url, timeout_s=0.3, max_retries=0)
        with pytest.raises(CloudError, match="timed out"):
            run(client)
        started = time.monotonic()
    assert time.monotonic() - started < 5.0  # the waiting handler was released, not awaited
    assert set(threading.enumerate()) <= before
    with pytest.raises(CloudError, match="Cannot reach"):
        run(client_for(f"http://127.0.0.1:{port}/v1", max_retries=0))


def sse(delta: object, finish: str | None = None) -> str:
    """One chat-completion chunk as an SSE data line."""
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return "data: " + json.dumps({"id": "c", "object": "chat.completion.chunk", "created": 0,
                                  "model": SERVED, "choices": [choice]})


HELLO = sse({"content": "Hello"})
MALFORMED = {  # the first chunk is fine, then the server sends something unreadable
    "not json": [HELLO, "data: {not json"],
    "choices a string": [HELLO, 'data: {"choices": "x"}'],
    "delta a number": [HELLO, 'data: {"choices":[{"delta":5}]}'],
    "content a number": [HELLO, sse({"content": 5})],
    "logprob a word": [HELLO, 'data: {"choices":[{"delta":{"content":"a"},"logprobs":{"content":[{"logprob":"x"}]}}]}'],
}


@pytest.mark.parametrize("label", MALFORMED)
def test_a_malformed_stream_is_a_one_line_cloud_error(cloud_proxy, label):
    cloud_proxy.serve_next(MALFORMED[label])
    client = client_for(cloud_proxy.base_url)
    with pytest.raises(CloudError) as caught:
        run(client, GenerationParams(max_tokens=10))
    message = str(caught.value)
    assert "malformed after 1 tokens" in message and "\n" not in message, message
    assert client.last_stats().finish_reason == "error" and client.last_stats().completion_tokens == 1


def test_keep_alives_forever_end_at_the_deadline(cloud_proxy):
    cloud_proxy.serve_next(itertools.repeat(": keep-alive"), interval_s=0.05)
    client = client_for(cloud_proxy.base_url, timeout_s=5.0, deadline_s=1.0)
    started = time.monotonic()
    with pytest.raises(CloudError, match=r"did not finish within cloud_deadline_s=1s \(0 tokens in\)"):
        run(client, GenerationParams(max_tokens=10))
    assert time.monotonic() - started < 4.0
    assert client.last_stats().finish_reason == "error"


def test_tokens_forever_end_at_the_deadline(cloud_proxy):
    cloud_proxy.serve_next(itertools.repeat(sse({"content": "la"})), interval_s=0.05)
    client = client_for(cloud_proxy.base_url, deadline_s=1.0)
    with pytest.raises(CloudError, match=r"did not finish within cloud_deadline_s=1s \(\d+ tokens in\)"):
        run(client, GenerationParams(max_tokens=1000))


def test_a_server_ignoring_max_tokens_is_read_only_up_to_max_tokens(cloud_proxy):
    cloud_proxy.serve_next(itertools.repeat(sse({"content": "la"})), interval_s=0.01)
    client = client_for(cloud_proxy.base_url, deadline_s=30.0)
    *tokens, last = run(client, GenerationParams(max_tokens=7))
    assert len(tokens) == 7 and last.finish_reason == "length"
    assert client.last_stats().completion_tokens == 7
