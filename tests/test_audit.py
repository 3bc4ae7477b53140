"""`%hybrid audit`: exactly the requests that left the machine, compared with what the server received."""
from __future__ import annotations

import csv
import json
from datetime import datetime, timezone

import pytest
from IPython.utils.capture import capture_output

from hybrid_magic.audit import audit_rows, export_rows, since_timestamp
from hybrid_magic.errors import UsageError
from hybrid_magic.ledger import Ledger
from hybrid_magic.router.privacy import redact

NOW = datetime(2026, 3, 10, 12, 0, 0, tzinfo=timezone.utc)
KEY = "sk-proj-ABCDEFGHIJKLMNOPQRSTUV123456"


@pytest.mark.parametrize("text, expected", [
    ("7d", "2026-03-03T12:00:00Z"),
    ("12h", "2026-03-10T00:00:00Z"),
    ("30m", "2026-03-10T11:30:00Z"),
    ("2w", "2026-02-24T12:00:00Z"),
    ("2026-01-31", "2026-01-31T00:00:00Z"),
    ("2026-01-31T08:00:00+02:00", "2026-01-31T06:00:00Z"),
])
def test_since(text, expected):
    assert since_timestamp(text, now=NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "7 days", "-3d", ""])
def test_bad_since_is_a_usage_error(text):
    with pytest.raises(UsageError, match="--since takes"):
        since_timestamp(text, now=NOW)


def test_rows_by_session_and_export_round_trip(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite")
    sent = [{"role": "user", "content": "Hi, café"}]
    ledger.record_cloud_request(run_id=None, host="api.example", model="m", messages=sent, prompt_tokens=3,
                                completion_tokens=2, cost_usd=None, ok=True, error=None)
    ledger.reset_session()
    ledger.record_cloud_request(run_id=None, host="api.example", model="m", messages=sent, prompt_tokens=None,
                                completion_tokens=None, cost_usd=None, ok=False, error="Cannot reach it")
    mine = audit_rows(ledger)
    assert [r["ok"] for r in mine] == [False] and mine[0]["messages"] == sent
    everything = audit_rows(ledger, everything=True)
    assert len(everything) == 2 and audit_rows(ledger, since="2999-01-01T00:00:00Z") == []
    as_json = json.loads(export_rows(everything, tmp_path / "out" / "audit.json").read_text(encoding="utf-8"))
    assert as_json == everything
    with export_rows(everything, tmp_path / "audit.csv").open(encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    assert [json.loads(r["messages"]) for r in table] == [sent, sent] and table[1]["error"] == "Cannot reach it"
    with pytest.raises(UsageError, match=".json or .csv"):
        export_rows(everything, tmp_path / "audit.xlsx")


# ---- on a real shell: local, private, blocked and handed-off cells ------------------------

@pytest.fixture
def magics(cloud_magics):
    return cloud_magics


CELLS = [  # (options, prompt, leaves the machine)
    ("--policy always-local", "Say hi to Alice.", False),
    ("--private --cloud", "Say hi to Bob.", False),
    ("--cloud", "My password=hunter2xyz, say hi to Carol.", False),  # blocked by the privacy guard
    ("--cloud", "What is the capital of France?", True),
    ("--cloud --allow-sensitive", f"With api_key={KEY} say hi to Dave.", True),
    ("--threshold 0.95", "Name a colour.", True),  # low confidence or truncation hands it off
]


def test_audit_lists_exactly_what_the_server_received(shell, magics, cloud_proxy, tmp_path):
    for options, prompt, _ in CELLS:
        with capture_output():
            shell.run_cell_magic("hybrid", f"{options} --max-tokens 6", prompt)
    received = [r["body"]["messages"] for r in cloud_proxy.requests if r["path"].endswith("/chat/completions")]
    assert len(received) == sum(leaves for *_, leaves in CELLS)
    with capture_output() as captured:
        shell.run_line_magic("hybrid", f"audit --export {tmp_path / 'audit.json'}")
    rows = audit_rows(magics.engine.ledger)
    assert [r["messages"] for r in rows] == [
        [{"role": m["role"], "content": redact(m["content"], detect_pii=False)} for m in sent] for sent in received]
    assert all(r["ok"] and r["host"] == cloud_proxy.base_url.split("/")[2] and r["model"] == "default_model"
               for r in rows)
    text = captured.outputs[0].data["text/plain"]
    assert text.startswith("3 request(s) left this machine in this session")
    assert "France" in text and "Dave" in text and "[REDACTED:openai_key]" in text
    for stayed in ("Alice", "Bob", "Carol", "hunter2xyz", KEY):
        assert stayed not in text and stayed not in captured.outputs[0].data["text/html"]
    assert KEY in json.dumps(received), "the key went out (allowed), but the audit shows it redacted"
    exported = json.loads((tmp_path / "audit.json").read_text(encoding="utf-8"))
    assert [r["messages"] for r in exported] == [r["messages"] for r in rows]


def test_audit_scopes_and_bad_options(shell, magics):
    with capture_output() as captured:
        shell.run_line_magic("hybrid", "audit --since 1h")
        shell.run_line_magic("hybrid", "audit --all --since 1h")
        shell.run_line_magic("hybrid", "audit --export audit.txt")
    assert captured.outputs[0].data["text/plain"].startswith("Nothing left this machine since ")
    errors = [line for line in captured.stderr.splitlines() if line.strip()]
    assert len(errors) == 2 and all(line.startswith("hybrid_magic:") for line in errors)
    assert "not allowed with argument" in errors[0] and ".json or .csv" in errors[1]
