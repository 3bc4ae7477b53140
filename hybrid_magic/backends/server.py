"""Local backend: a model served on this machine behind an OpenAI-compatible API.

Ollama, LM Studio, llama.cpp server, vLLM or mlx_lm.server become the LOCAL
side of %%local / %%hybrid through the openai SDK (`--backend server
--local-url http://127.0.0.1:8080/v1`). The privacy promise is that local
means this machine: only loopback addresses, or hosts listed explicitly in
`HybridMagics.local_hosts`, are accepted. Streaming, retries and error lines
come from CloudClient, so both sides speak the same protocol the same way.

What a server cannot say is reported as unknown, never guessed silently:
token logprobs (absent: the confidence signals show "unavailable"), the
context length (from the model listing when given, else DEFAULT_CONTEXT) and
prompt token counts (an estimate before the call; the server's usage after).
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from urllib.parse import urlsplit

import openai

from ..cloud import LOCAL_PLACEHOLDER_KEY, CloudClient, is_loopback
from ..errors import BackendUnavailableError, CloudError, UsageError
from ..models import ResolvedModel
from ..types import GenerationParams, Message, TokenEvent
from .base import LocalBackend

DEFAULT_CONTEXT = 4096  # when the server does not say
CHARS_PER_TOKEN = 4  # the usual rule of thumb for English text with BPE tokenizers
TOKENS_PER_MESSAGE = 4  # role markers and separators a chat template adds
# Keys servers use for the context length in their model listing (vLLM, LM Studio, llama.cpp, others).
CONTEXT_KEYS = ("max_model_len", "context_length", "max_context_length", "context_window", "n_ctx")
MLX_DEFAULT_NAME = "default_model"  # mlx_lm.server's name for the model it was started with
_SEPARATOR = "#"  # ResolvedModel.path = base_url#served_model, so each served model loads once
_approved_hosts: set[str] = set()  # hosts from HybridMagics.local_hosts that server_model() accepted


class NotLocalError(UsageError):
    """--local-url points off this machine."""


class LocalServerError(BackendUnavailableError):
    """The local server is not running, or refused the request."""


def check_local(url: str, local_hosts: Sequence[str] = ()) -> str:
    """The host of `url` when it counts as local; otherwise NotLocalError, before any connection."""
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        raise NotLocalError(f"--local-url must look like http://127.0.0.1:8080/v1, not {url!r}.")
    allowed = {h.lower() for h in local_hosts}
    if not (is_loopback(host) or host.lower() in allowed):
        raise NotLocalError(
            f"{host} is not a loopback address, so it cannot be the local model: use 127.0.0.1/localhost, "
            "or list the host in %config HybridMagics.local_hosts if it really is yours.")
    return host


def server_model(request, settings) -> ResolvedModel:
    """The served model a request means, checked to be local; one loopback call lists the models."""
    url = (getattr(request, "local_url", "") or settings.local_url).rstrip("/")
    _approved_hosts.add(check_local(url, settings.local_hosts).lower())
    served = list_models(url)
    name = pick_served_model(request.model, served, default=settings.local_model)
    return ResolvedModel(name, f"{url}{_SEPARATOR}{name}", "server")


def list_models(url: str, timeout_s: float = 10.0) -> list[dict]:
    """The server's model listing; [] when it has none to give (mlx_lm.server without a hub cache)."""
    client = openai.OpenAI(base_url=url, api_key=LOCAL_PLACEHOLDER_KEY, timeout=timeout_s, max_retries=0)
    try:
        return [entry.model_dump() for entry in client.models.list()]
    except openai.APIConnectionError:
        raise LocalServerError(f"No local model server answers at {url}: start it, or fix --local-url.") from None
    except (openai.OpenAIError, ValueError):  # no /models route, or a broken listing: the server names nothing
        return []
    finally:
        client.close()


def pick_served_model(wanted: str, served: list[dict], *, default: str) -> str:
    """The id to request: the name as given, an alias's hub id, or the only model when none was chosen."""
    from ..aliases import lookup_alias

    ids = [entry.get("id", "") for entry in served]
    if wanted in ids or wanted == MLX_DEFAULT_NAME:
        return wanted
    alias = lookup_alias(wanted)
    for candidate in (alias.hf_id, alias.mlx_id) if alias else ():
        match = next((i for i in ids if i == candidate or i.endswith("/" + candidate)), None)
        if match:
            return match
    if wanted == default and len(ids) == 1:  # no -m given: the server's one model
        return ids[0]
    if wanted == default and not ids:
        return MLX_DEFAULT_NAME
    listing = ", ".join(ids[:8]) or "none"
    raise UsageError(f"The local server does not serve {wanted!r} (it lists: {listing}): pass -m NAME.")


def context_from_listing(entry: dict) -> int | None:
    sources = [entry, entry.get("meta") or {}, entry.get("details") or {}]
    for source in sources:
        for key in CONTEXT_KEYS + ("n_ctx_train",):
            value = source.get(key) if isinstance(source, dict) else None
            if isinstance(value, int) and value > 0:
                return value
    return None


def estimate_tokens(messages: Sequence[Message], tools: Sequence[dict] | None = None) -> int:
    schema_chars = len(json.dumps(list(tools))) if tools else 0
    text_tokens = (sum(len(m["content"]) for m in messages) + schema_chars) / CHARS_PER_TOKEN
    return int(text_tokens + TOKENS_PER_MESSAGE * len(messages) + 3)


class ServerBackend(LocalBackend):
    name = "server"

    def __init__(self, model: ResolvedModel):
        super().__init__(model)
        self.base_url, _, self.served_model = model.path.rpartition(_SEPARATOR)
        self.host = check_local(self.base_url, _approved_hosts)  # again, before the first connection
        listing = next((e for e in list_models(self.base_url) if e.get("id") == self.served_model), {})
        told = context_from_listing(listing)
        self.context_source = "server" if told else "default"
        self._context_length = told or DEFAULT_CONTEXT
        self._client = CloudClient(self.base_url, LOCAL_PLACEHOLDER_KEY, self.served_model,
                                   timeout_s=120.0, max_retries=1, prices={})

    @property
    def context_length(self) -> int:
        return self._context_length

    def count_prompt_tokens(self, messages: Sequence[Message], tools: Sequence[dict] | None = None) -> int:
        """An estimate (characters / 4 plus chat markup): the OpenAI API has no tokenizer endpoint."""
        return estimate_tokens(messages, tools)

    def stream(self, messages: Sequence[Message], params: GenerationParams,
               tools: Sequence[dict] | None = None) -> Iterator[TokenEvent]:
        if tools:  # supports_tools() is False, so the cascade offers the handoff by instruction instead
            raise UsageError("The server backend sends no tools: its answers come back as text only.")
        events = self._client.stream(list(messages), params)
        return self._local_events(events)

    def _local_events(self, events: Iterator[TokenEvent]) -> Iterator[TokenEvent]:
        """CloudClient's events, with local wording for errors and the backend's interrupt contract."""
        try:
            yield from events
        except CloudError as error:
            raise LocalServerError(_local_wording(str(error), self.base_url)) from None
        except KeyboardInterrupt:
            yield TokenEvent(text="", finish_reason="interrupted")
        finally:
            events.close()


def _local_wording(message: str, url: str) -> str:
    if message.startswith("Cannot reach"):
        return f"Cannot reach the local model server at {url}: is it running? (--local-url)"
    return "Local server: " + message.replace("The cloud", "the server").replace("cloud", "server")
