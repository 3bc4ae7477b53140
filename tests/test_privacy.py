"""Secret and PII detection: each kind found, redaction never leaves the secret, no false alarms."""
from __future__ import annotations

import pytest

from hybrid_magic.router.privacy import Finding, find_sensitive, kinds, redact

PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\nq9ZQ3xwzK2mY8p0Lw=="
JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ"
       ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")

# (label, text, secret that must disappear, expected kind)
SECRETS = [
    ("openai", "key: sk-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z ok", "sk-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z", "openai_key"),
    ("openai project", "OPENAI_API_KEY=sk-proj-Zx81fQ2mV0pLr5sT7uWy3aBc_DeFg-HiJk",
     "sk-proj-Zx81fQ2mV0pLr5sT7uWy3aBc_DeFg-HiJk", "openai_key"),
    ("aws", "aws id AKIAIOSFODNN7EXAMPLE in the config", "AKIAIOSFODNN7EXAMPLE", "aws_access_key"),
    ("github classic", "push with ghp_1a2B3c4D5e6F7g8H9i0JkLmNoPqRsTuVwXyZ12", "ghp_1a2B3c4D5e6F7g8H9i0JkLmNoPqRsTuVwXyZ12",
     "github_token"),
    ("github fine-grained", "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
     "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "github_token"),
    ("slack", "bot xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOp", "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOp",
     "slack_token"),
    ("google", "maps AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY here", "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
     "google_api_key"),
    ("huggingface", "HF token hf_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "hf_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
     "huggingface_token"),
    ("private key", f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----\nbye", PEM_BODY,
     "private_key"),
    ("private key, unterminated", f"-----BEGIN OPENSSH PRIVATE KEY-----\n{PEM_BODY}", PEM_BODY, "private_key"),
    ("bearer", "curl -H 'Authorization: Bearer 4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c'", "4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c",
     "bearer_token"),
    ("jwt", f"session={JWT}", JWT, "jwt"),
    ("password", "login with password=hunter22 please", "hunter22", "password"),
    ("passwd yaml", "db:\n  passwd: 'c0rrect horse'\n", "c0rrect horse", "password"),
    ("env password", "DB_PASSWORD=letmein", "letmein", "password"),
    ("secret json", '{"client_secret": "s3cr3t-value-42"}', "s3cr3t-value-42", "secret"),
    ("token", "token = 'abc123def456'", "abc123def456", "secret"),
    ("api_key kwarg", 'Client(api_key="my-key-0042")', "my-key-0042", "secret"),
    ("connection string", "DATABASE_URL=postgres://admin:Pa55w0rd!@db.internal:5432/app", "Pa55w0rd!",
     "connection_string"),
]


@pytest.mark.parametrize("label, text, secret, kind", SECRETS, ids=[s[0] for s in SECRETS])
def test_each_secret_is_found_and_redacted(label, text, secret, kind):
    found = find_sensitive(text)
    assert kind in kinds(found), found
    redacted = redact(text)
    assert secret not in redacted
    assert f"[REDACTED:{kind}]" in redacted


@pytest.mark.parametrize("label, text, secret, kind", SECRETS, ids=[s[0] for s in SECRETS])
def test_no_piece_of_a_secret_survives(label, text, secret, kind):
    redacted = redact(text)
    pieces = [secret[i:i + 8] for i in range(0, max(1, len(secret) - 7), 4)]
    assert not [p for p in pieces if len(p) >= 8 and p in redacted]


def test_assignment_keeps_its_key_visible():
    assert redact("password=hunter22 ok") == "password=[REDACTED:password] ok"
    assert redact("postgres://bob:s3cr3t@db:5432/x") == "postgres://bob:[REDACTED:connection_string]@db:5432/x"


def test_findings_are_ordered_and_do_not_overlap():
    text = "a AKIAIOSFODNN7EXAMPLE b token=sk-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z c"
    found = find_sensitive(text)
    assert all(isinstance(f, Finding) for f in found)
    assert [f.start for f in found] == sorted(f.start for f in found)
    assert all(a.end <= b.start for a, b in zip(found, found[1:]))
    assert len(found) == 2


@pytest.mark.parametrize("text, secret, kind", [
    ("write to ann.lee+work@example.co.uk today", "ann.lee+work@example.co.uk", "email"),
    ("call me on +1 415-555-0134 tonight", "415-555-0134", "phone"),
    ("office: (030) 1234 5678", "1234 5678", "phone"),
    ("mobile 07700 900123", "07700 900123", "phone"),
])
def test_pii_only_when_asked(text, secret, kind):
    assert find_sensitive(text) == []
    assert kind in kinds(find_sensitive(text, detect_pii=True))
    assert secret not in redact(text, detect_pii=True)


PROSE = """The committee met on 2024-03-15 to review the budget for version 2.3.1 of the
survey. Attendance was 1,204 people, up 12.5% on last year; the password reset page had
3 complaints. As a token of thanks, the secret to the recipe is patience: bake at 180 C for
45 minutes. The bearer of the award, Dr. Smith, spoke for 10 minutes about IP 192.168.10.200
and the 100.200.300 million figure. See section 4.2, page 17, or call extension 4411.
Keys are kept in a drawer; the API key policy says rotate them every 90 days."""

PYTHON = '''import os
from huggingface_hub import hf_hub_download  # a risk-free, task-based helper
from getpass import getpass

def connect(user: str, password: str, token: str | None = None, api_key=None):
    password = password or getpass("Password: ")
    token = tokenizer.encode(text)
    api_key = os.environ["OPENAI_API_KEY"]
    secret = None
    max_token = 1024
    pad_token = tokenizer.pad_token
    headers = {"Authorization": f"Bearer {token}"}
    url = f"postgres://{user}:{password}@localhost/db"
    if password == "":
        raise ValueError("empty password")
    return Client(api_key=api_key, password=password, base_url="https://api.example.com/v1")
'''


@pytest.mark.parametrize("label, text", [("prose", PROSE), ("python", PYTHON)])
def test_no_false_positives(label, text):
    assert find_sensitive(text) == []
    assert find_sensitive(text, detect_pii=True) == []
    assert redact(text) == text


@pytest.mark.parametrize("text", [
    'api_key = "YOUR_API_KEY"', "password: <your password>", "token = '...'", 'secret = "${SECRET}"',
    "password: str", "token: int = 0",
])
def test_placeholders_and_annotations_are_not_secrets(text):
    assert find_sensitive(text) == []


STRIPE = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"  # built in two parts: push protection would flag it
SLACK_HOOK = "https://hooks.slack.com/services/T024BE7LD/B01ABCD2EFG/" + "Zx8vQ2mN4bT7yR1wK9pL3sD6"
AZURE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
OPENAI = "sk-proj-Zx8vQ2mN4bT7yR1wK9pL3sD6fG0hJ5cE"

# (label, text, what must disappear, kind): found since the ruleset and the normalisation came in
NEWLY_CAUGHT = [
    ("stripe live key", f"charge with {STRIPE} today", STRIPE, "stripe_access_key"),
    ("stripe restricted key", f"STRIPE={STRIPE.replace('sk_', 'rk_')}", STRIPE[3:], "stripe_access_key"),
    ("slack webhook", f"post to {SLACK_HOOK} please", SLACK_HOOK[-24:], "slack_token"),
    ("azure account key", f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={AZURE_KEY};"
     "EndpointSuffix=core.windows.net", AZURE_KEY[:-2], "azure_storage_account_access_key"),
    ("twilio", "twilio SK" + "0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef",
     "twilio_api_key"),
    ("sendgrid", "SG." + "a" * 22 + "." + "b" * 43, "a" * 22, "sendgrid_api_key"),
    ("my password is", "btw my password is hunter2! thanks", "hunter2", "password"),
    ("our wifi passcode", 'Our wifi passcode is "7f7f-aa91".', "7f7f-aa91", "password"),
    ("the admin password:", "The admin password: Tr0ub4dor&3.", "Tr0ub4dor&3", "password"),
    ("key split by a space", f"key {OPENAI[:20]} {OPENAI[20:]} end", OPENAI[20:], "openai_key"),
    ("key split by a tab", f"key {OPENAI[:20]}\t{OPENAI[20:]} end", OPENAI[20:], "openai_key"),
    ("zero-width space inside", f"key {OPENAI[:20]}\u200b{OPENAI[20:]} end", OPENAI[20:], "openai_key"),
    ("word joiner and soft hyphen", f"{OPENAI[:10]}\u2060{OPENAI[10:25]}\u00ad{OPENAI[25:]}", OPENAI[25:],
     "openai_key"),
    ("fullwidth letters", "ｓｋ－ｐｒｏｊ－" + OPENAI[8:], OPENAI[8:], "openai_key"),
]


@pytest.mark.parametrize("label, text, secret, kind", NEWLY_CAUGHT, ids=[s[0] for s in NEWLY_CAUGHT])
def test_the_ruleset_and_normalisation_catch(label, text, secret, kind):
    assert kind in kinds(find_sensitive(text)), find_sensitive(text)
    assert secret not in redact(text) and f"[REDACTED:{kind}]" in redact(text)


@pytest.mark.parametrize("text", [
    "my password is expired", "my password is not working", "the password is correct",
    "my password is being reset", "Your password is required.", "our api key is stored in a vault",
    "version 2 build 3 of v1.2 runs on x86 64bit", "model v2024 beta 0312 release",
    "the IP 203.0.113.9 answered", "AccountName=acct", "hooks.slack.com is where hooks live",
])
def test_prose_about_secrets_is_not_a_secret(text):
    assert find_sensitive(text) == []
