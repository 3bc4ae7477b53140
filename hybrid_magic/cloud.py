"""CloudClient: any OpenAI-compatible chat endpoint, streamed as TokenEvents.

One client per (base_url, model). It streams with the real `openai` SDK, counts
tokens and cost, and turns every failure into a one-line CloudError that a user
can act on and that never contains the key.
"""
from __future__ import annotations

import ipaddress
import time
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

import openai

from hybrid_magic.backoff import retry_delay_s
from hybrid_magic.cloud_stream import (MALFORMED_ERRORS, TIMEOUT_ERRORS, TRANSPORT_ERRORS, Deadline,
                                       MalformedStream, StreamTally)
from hybrid_magic.config import DEFAULT_PRICES
from hybrid_magic.errors import CloudError
from hybrid_magic.types import CloudStats, GenerationParams, TokenEvent, Timings

NO_KEY_MESSAGE = "No OpenAI API key: set OPENAI_API_KEY (or point OPENAI_BASE_URL at a local server)."
BAD_KEY_MESSAGE = "The cloud rejected the API key (401): check OPENAI_API_KEY."
LOCAL_PLACEHOLDER_KEY = "local-server-accepts-any-key"  # loopback servers ignore the key
TIMEOUT_HINT = "raise %config HybridMagics.cloud_timeout_s or try again"
DEADLINE_HINT = "raise %config HybridMagics.cloud_deadline_s or try again"


def _drop(*keys: str) -> Callable[[dict], dict]:
    return lambda kwargs: {k: v for k, v in kwargs.items() if k not in keys}


def _rename_max_tokens(kwargs: dict) -> dict:
    renamed = _drop("max_tokens")(kwargs)
    renamed["max_completion_tokens"] = kwargs["max_tokens"]
    return renamed


# A 400/422 that names one of these request keys: resend once with the fix applied.
# Servers differ (mlx_lm caps top_logprobs at 11; reasoning models refuse logprobs,
# temperature and max_tokens). Applied fixes are remembered for later calls.
PARAM_FALLBACKS: tuple[tuple[str, Callable[[dict], dict]], ...] = (
    ("logprobs", _drop("logprobs", "top_logprobs")),
    ("max_tokens", _rename_max_tokens),
    ("temperature", _drop("temperature")),
    ("top_p", _drop("top_p")),
    ("seed", _drop("seed")),
    ("stream_options", _drop("stream_options")),
)


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def match_price(model: str, prices: dict[str, list[float]]) -> list[float] | None:
    """Exact name first, then the longest price key the model name starts with."""
    if model in prices:
        return prices[model]
    prefixes = [key for key in prices if model.startswith(key)]
    return prices[max(prefixes, key=len)] if prefixes else None


class CloudClient:
    """Streams chat completions from an OpenAI-compatible server, with retries, usage and cost."""

    def __init__(self, base_url: str, api_key: str | None, model: str, *, timeout_s: float = 60.0,
                 max_retries: int = 2, prices: dict[str, list[float]] | None = None,
                 backoff_s: float = 0.5, deadline_s: float = 0.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout_s = timeout_s  # between two bytes (the SDK's read timeout)
        self.deadline_s = deadline_s  # the whole request, however the server trickles (0 = none;
        # HybridMagics.cloud_deadline_s sets it for cells)
        self.max_retries = max(0, max_retries)
        self.backoff_s = backoff_s  # waits Retry-After, else backoff_s * 2**attempt, before retry attempt+1
        self.prices = DEFAULT_PRICES if prices is None else prices
        self._api_key = api_key or self._placeholder_key()
        self._fallbacks: set[str] = set()
        self._stats = CloudStats(model=model, host=self.host)
        # The SDK's own retries are off: ours are bounded, logged by count and never retry a timeout.
        self._client = openai.OpenAI(base_url=self.base_url, api_key=self._api_key,
                                     timeout=timeout_s, max_retries=0)

    def _placeholder_key(self) -> str:
        if not is_loopback(urlsplit(self.base_url).hostname):
            raise CloudError(NO_KEY_MESSAGE)
        return LOCAL_PLACEHOLDER_KEY

    @property
    def host(self) -> str:
        """Host and port only: it goes into saved notebooks, so no path, query or credentials."""
        return urlsplit(self.base_url).netloc.rpartition("@")[2]

    @property
    def safe_url(self) -> str:
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{self.host}{parts.path}"

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "CloudClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- cost -------------------------------------------------------------

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        """USD for a call, or None when the model has no price (unknown is not free)."""
        price = match_price(self.model, self.prices)
        if price is None:
            return None
        return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1_000_000

    def estimate_cost(self, prompt_tokens: int, max_tokens: int) -> float | None:
        """Upper bound before the call: every allowed output token is spent."""
        return self.cost(prompt_tokens, max_tokens)

    def last_stats(self) -> CloudStats:
        return self._stats

    # --- streaming ----------------------------------------------------------

    def stream(self, messages: list[dict], params: GenerationParams) -> Iterator[TokenEvent]:
        """Token events, then a final one; stops reading at params.max_tokens whatever the server does."""
        tally = StreamTally(started=time.perf_counter())
        self._stats = CloudStats(model=self.model, host=self.host)
        response = self._open_stream(self._request(messages, params))
        left = self.deadline_s - (time.perf_counter() - tally.started)  # opening it counted too
        deadline = Deadline(max(left, 0.001) if self.deadline_s > 0 else 0.0, response.close)
        try:
            for chunk in response:
                event = tally.take(chunk)
                if event is not None and tally.content_events > params.max_tokens:  # it ignores max_tokens
                    tally.content_events, tally.finish_reason = params.max_tokens, "length"
                    break
                if event is not None:
                    yield event
                if deadline.expired:
                    raise self._deadline_error(tally)
        except (openai.OpenAIError, MalformedStream, *MALFORMED_ERRORS, *TRANSPORT_ERRORS) as err:
            self._record(tally, "error")
            raise self._deadline_error(tally) if deadline.expired else self._stream_error(err, tally) from err
        except (KeyboardInterrupt, GeneratorExit):
            self._record(tally, "interrupted")  # partial stats for the ledger; the engine handles Ctrl-C
            raise
        finally:
            deadline.cancel()
            response.close()
        if tally.finish_reason is None:
            self._record(tally, "error")
            raise self._deadline_error(tally) if deadline.expired else self._fail(
                f"The cloud stream from {self.host} ended before it finished "
                f"(after {tally.content_events} tokens): try again.")
        timings = self._record(tally, tally.finish_reason)
        yield TokenEvent(text="", finish_reason=tally.finish_reason, timings=timings)

    def _record(self, tally: StreamTally, finish_reason: str) -> Timings:
        timings = tally.timings()
        self._stats = CloudStats(
            model=self.model, host=self.host, prompt_tokens=timings.prompt_tokens,
            completion_tokens=timings.completion_tokens, ttft_s=timings.ttft_s,
            seconds=timings.seconds, finish_reason=finish_reason,
            # Without usage the prompt size is unknown, so the cost is too (never a guess).
            cost_usd=self.cost(timings.prompt_tokens, timings.completion_tokens) if tally.usage else None,
        )
        return timings

    def _request(self, messages: list[dict], params: GenerationParams) -> dict:
        kwargs: dict[str, Any] = {
            "model": self.model, "messages": messages, "stream": True,
            "stream_options": {"include_usage": True}, "max_tokens": params.max_tokens,
            "temperature": params.temperature, "top_p": params.top_p, "logprobs": True,
        }
        if params.top_alternatives > 0:
            kwargs["top_logprobs"] = params.top_alternatives
        if params.seed is not None:
            kwargs["seed"] = params.seed
        if params.stop:
            kwargs["stop"] = list(params.stop)
        for name, fix in PARAM_FALLBACKS:
            kwargs = fix(kwargs) if name in self._fallbacks else kwargs
        return kwargs

    def _open_stream(self, kwargs: dict) -> Any:
        retries, applied = 0, []
        while True:
            try:
                response = self._client.chat.completions.create(**kwargs)
                self._fallbacks.update(applied)  # only fixes that made a call work are kept
                return response
            except (openai.BadRequestError, openai.UnprocessableEntityError) as err:
                fallback = self._fallback_for(err, kwargs)
                if fallback is None:
                    raise self._status_error(err, retries) from err
                applied.append(fallback)
                kwargs = dict(PARAM_FALLBACKS)[fallback](kwargs)
            except openai.OpenAIError as err:
                if not _is_transient(err) or retries >= self.max_retries:
                    raise self._call_error(err, retries) from err
                time.sleep(retry_delay_s(err, retries, self.backoff_s))  # Retry-After first
                retries += 1

    def _fallback_for(self, err: openai.APIStatusError, kwargs: dict) -> str | None:
        """Which optional key the server refused; logprobs are the usual suspect when none is named."""
        detail = _detail(err).lower()
        for name, _ in PARAM_FALLBACKS:
            if name in kwargs and name in detail:
                return name
        return "logprobs" if "logprobs" in kwargs else None

    # --- errors ---------------------------------------------------------------

    def _fail(self, message: str) -> CloudError:
        """Every CloudError goes through here: a server may echo the key, the message must not."""
        if len(self._api_key) >= 8:
            message = message.replace(self._api_key, "***")
        return CloudError(message)

    def _call_error(self, err: openai.OpenAIError, retries: int) -> CloudError:
        if isinstance(err, openai.APITimeoutError):
            return self._fail(f"The cloud call timed out after {self.timeout_s:g}s: {TIMEOUT_HINT}.")
        if isinstance(err, openai.APIConnectionError):
            return self._fail(f"Cannot reach {self.safe_url}: is the server running? (OPENAI_BASE_URL)")
        if isinstance(err, openai.APIStatusError):
            return self._status_error(err, retries)
        return self._fail(f"The cloud call failed: {_detail(err)}")

    def _status_error(self, err: openai.APIStatusError, retries: int) -> CloudError:
        status, model = err.status_code, self.model
        messages = {
            401: BAD_KEY_MESSAGE,
            403: f"The cloud refused access to model {model!r} (403): check the key's permissions.",
            404: f"The cloud has no model {model!r} (404): check --cloud-model "
                 "(and that OPENAI_BASE_URL ends in /v1).",
            429: f"The cloud rate limited (429) after {retries} retries: wait a minute and try again.",
        }
        if err.code == "insufficient_quota":
            return self._fail("The cloud account has no quota left (429 insufficient_quota): check billing.")
        if status >= 500:
            return self._fail(f"The cloud server failed ({status}) after {retries} retries: try again later.")
        return self._fail(messages.get(status) or f"The cloud rejected the request ({status}): {_detail(err)}")

    def _stream_error(self, err: BaseException, tally: StreamTally) -> CloudError:
        tokens = tally.content_events
        if isinstance(err, (openai.APITimeoutError, *TIMEOUT_ERRORS)):
            return self._fail(f"The cloud stream timed out after {self.timeout_s:g}s "
                              f"({tokens} tokens in): {TIMEOUT_HINT}.")
        if isinstance(err, (MalformedStream, *MALFORMED_ERRORS)):
            return self._fail(f"The cloud stream from {self.host} was malformed after {tokens} tokens "
                              f"({_detail(err)}): the server does not speak the OpenAI chat API.")
        return self._fail(f"The cloud stream from {self.host} broke after {tokens} tokens "
                          f"({type(err).__name__}: {_detail(err)}): try again.")

    def _deadline_error(self, tally: StreamTally) -> CloudError:
        return self._fail(f"The cloud answer from {self.host} did not finish within cloud_deadline_s="
                          f"{self.deadline_s:g}s ({tally.content_events} tokens in): {DEADLINE_HINT}.")


def _is_transient(err: openai.OpenAIError) -> bool:
    """429, 5xx and dropped connections are worth another try; a timeout or a quota error is not."""
    if isinstance(err, openai.APITimeoutError):
        return False
    if isinstance(err, openai.RateLimitError):
        return err.code != "insufficient_quota"
    return isinstance(err, (openai.APIConnectionError, openai.InternalServerError))


def _detail(err: BaseException) -> str:
    """The server's own words, on one short line."""
    body = getattr(err, "body", None)
    text = body.get("message") if isinstance(body, dict) else body
    if not isinstance(text, str) or not text:
        text = getattr(err, "message", None) or str(err) or type(err).__name__
    return " ".join(text.split())[:200]
