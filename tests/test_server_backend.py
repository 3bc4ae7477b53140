"""--backend server: a real mlx_lm.server on 127.0.0.1 as the LOCAL side, with a zero-egress check."""
from __future__ import annotations

import ipaddress
import socket

import pytest
from IPython.utils.capture import capture_output

from hybrid_magic.backends import server as srv
from hybrid_magic.display.mime import MIME_TYPE
from hybrid_magic.errors import HybridError
from hybrid_magic.magics import HybridMagics
from hybrid_magic.types import GenerationParams

FRANCE = "What is the capital of France?"


@pytest.mark.parametrize("url, extra, ok", [
    ("http://127.0.0.1:8080/v1", (), True),
    ("http://localhost:11434/v1", (), True),
    ("http://[::1]:1234/v1", (), True),
    ("http://127.0.0.2:8000/v1", (), True),  # all of 127/8 is loopback
    ("http://192.168.1.20:8080/v1", (), False),
    ("http://192.168.1.20:8080/v1", ("192.168.1.20",), True),  # listed by the user
    ("https://api.openai.com/v1", (), False),
    ("http://localhost.evil.example/v1", (), False),
    ("ftp://127.0.0.1/v1", (), False),
    ("127.0.0.1:8080", (), False),  # no scheme
])
def test_only_loopback_or_listed_hosts_are_local(url, extra, ok):
    if ok:
        assert srv.check_local(url, extra)
    else:
        with pytest.raises(srv.NotLocalError) as caught:
            srv.check_local(url, extra)
        assert len(str(caught.value).splitlines()) == 1


@pytest.mark.parametrize("wanted, served, expected", [
    ("default_model", [{"id": "/models/smol"}], "default_model"),  # asked for by name: never second-guessed
    ("llama3.2:1b", [{"id": "llama3.2:1b"}, {"id": "qwen"}], "llama3.2:1b"),
    ("qwen2.5-0.5b", [{"id": "x"}, {"id": "Qwen/Qwen2.5-0.5B-Instruct"}], "Qwen/Qwen2.5-0.5B-Instruct"),
    ("smollm2-135m", [{"id": "/root/models/smollm2"}], "/root/models/smollm2"),  # the default: the only model
    ("smollm2-135m", [], "default_model"),
])
def test_pick_served_model(wanted, served, expected):
    assert srv.pick_served_model(wanted, served, default="smollm2-135m") == expected


def test_pick_served_model_refuses_a_name_it_does_not_serve():
    with pytest.raises(HybridError, match="does not serve 'gpt-4o'"):
        srv.pick_served_model("gpt-4o", [{"id": "a"}, {"id": "b"}], default="smollm2-135m")


@pytest.mark.parametrize("entry, expected", [
    ({"id": "m", "max_model_len": 32768}, 32768),  # vLLM
    ({"id": "m", "max_context_length": 8192}, 8192),  # LM Studio
    ({"id": "m", "meta": {"n_ctx_train": 2048}}, 2048),  # llama.cpp
    ({"id": "m", "created": 1}, None),  # mlx_lm.server says nothing
])
def test_context_from_listing(entry, expected):
    assert srv.context_from_listing(entry) == expected


@pytest.fixture
def egress(monkeypatch):
    """Every connect() to a non-loopback address fails and is recorded."""
    attempts: list = []
    real_connect = socket.socket.connect

    def guarded_connect(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = isinstance(host, str) and host.startswith("/")  # unix socket path
        if not loopback:
            attempts.append(address)
            raise OSError(f"egress blocked in test: {address}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    return attempts


def test_backend_streams_from_the_loopback_server(cloud_server, egress):
    backend = srv.ServerBackend(srv.server_model(_request(cloud_server), _Settings()))
    assert (backend.served_model, backend.context_length, backend.context_source) == ("default_model", 4096, "default")
    messages = [{"role": "user", "content": FRANCE}]
    assert backend.count_prompt_tokens(messages) == srv.estimate_tokens(messages) > 5
    *tokens, last = list(backend.stream(messages, GenerationParams(max_tokens=8)))
    assert "Paris" in "".join(e.text for e in tokens)
    assert last.finish_reason in {"stop", "length"} and last.timings.prompt_tokens > 5
    assert all(e.logprob is None for e in tokens), "mlx_lm.server streams no logprobs"
    assert egress == []


def test_closing_the_stream_stops_it(cloud_server):
    backend = srv.ServerBackend(srv.server_model(_request(cloud_server), _Settings()))
    stream = backend.stream([{"role": "user", "content": "Count to one hundred."}], GenerationParams(max_tokens=200))
    first = next(stream)
    stream.close()  # early handoff: no more events, no error
    assert first.text and list(stream) == []


def test_a_stopped_server_is_one_clear_line(free_local_url):
    with pytest.raises(srv.LocalServerError, match="No local model server answers at"):
        srv.server_model(_request(free_local_url), _Settings())


@pytest.fixture
def free_local_url():
    from conftest import free_port

    return f"http://127.0.0.1:{free_port()}/v1"


class _Settings:
    local_url, local_hosts, local_model = "http://127.0.0.1:9/v1", [], "smollm2-135m"


def _request(url: str):
    from hybrid_magic.types import Request

    return Request(magic="local", prompt=FRANCE, model="default_model", backend="server", local_url=url)


# ---- through the magics, on a real IPython shell ---------------------------------------

@pytest.fixture
def magics(shell, isolated_home):
    instance = HybridMagics(shell=shell)
    shell.register_magics(instance)
    return instance


def _run(shell, magic: str, line: str, cell: str):
    with capture_output() as captured:
        shell.run_cell_magic(magic, line, cell)
    return captured


def _bundles(captured) -> list[dict]:
    return [o.data[MIME_TYPE] for o in captured.outputs if MIME_TYPE in o.data]


def test_local_cell_on_the_server_sends_nothing_anywhere_else(shell, magics, cloud_server, egress, monkeypatch):
    """The cloud is a second server (a counting proxy); it must see zero requests."""
    from proxy import LoopbackProxy

    with LoopbackProxy(cloud_server) as cloud:
        monkeypatch.setenv("OPENAI_BASE_URL", cloud.base_url)
        monkeypatch.setenv("HYBRID_MAGIC_CLOUD_MODEL", "default_model")
        local = _run(shell, "local", f"--backend server --local-url {cloud_server} -m default_model "
                                     "--max-tokens 8 --out answer", FRANCE)
        [bundle] = _bundles(local)
        assert bundle["route"] == "local" and bundle["local"]["backend"] == "server"
        assert bundle["local"]["model"] == "default_model" and bundle["local"]["completion_tokens"] > 0
        assert "Paris" in shell.user_ns["answer"].text
        hybrid = _run(shell, "hybrid", f"--backend server --local-url {cloud_server} -m default_model "
                                       "--max-tokens 8 --private --explain", FRANCE)
        assert cloud.request_count == 0
    assert egress == []
    [card] = _bundles(hybrid)
    confidence = next(s for s in card["signals"] if s["name"] == "low_confidence")
    assert confidence["available"] is False and confidence["triggered"] is False
    assert "unavailable" in confidence["message"]


def test_a_remote_local_url_is_refused_before_connecting(shell, magics, egress):
    captured = _run(shell, "local", "--backend server --local-url http://10.1.2.3:8080/v1 --max-tokens 4", FRANCE)
    lines = [x for x in captured.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("hybrid_magic:") and "not a loopback address" in lines[0]
    assert egress == [] and not _bundles(captured)
