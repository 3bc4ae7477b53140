"""Find and redact secrets (and, on request, personal data) in prompt text.

Each detector is a (kind, regex, value group) row: the finding covers only the
secret part, so `password=hunter2` becomes `password=[REDACTED:password]` and
the reader still sees what was there. Patterns favour precision: ordinary
prose and code (`token = tokenizer.encode(x)`, `password: str`) must not match.
"""
from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    kind: str
    start: int
    end: int


@dataclass(frozen=True)
class _Detector:
    kind: str
    pattern: re.Pattern[str]
    group: int = 0  # which group is the secret; 0 = the whole match
    pii: bool = False


_ASSIGNED_KEY = (
    r"(?P<name>(?<![A-Za-z0-9])(?:[A-Za-z0-9]+[_-])*"
    r"(?P<key>passw(?:or)?d|secret(?:[_-]?access)?(?:[_-]?key)?|api[_-]?key|"
    r"(?:access|auth|refresh|api|session|bearer|secret|private)[_-]?token)"
    r"|(?<![A-Za-z0-9_-])token)"
)
# the value: a quoted literal, or an unquoted run that is not a bare identifier,
# number, call or expression (those are code, not secrets)
_ASSIGNED_VALUE = r"""(?:"(?P<dq>[^"\n]+)"|'(?P<sq>[^'\n]+)'|(?P<raw>[^\s'"(),;\[\]{}<>=][^\s'"(),;\[\]{}<>]{3,}))"""

_DETECTORS: tuple[_Detector, ...] = (
    _Detector("private_key", re.compile(
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?"
        r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|\Z)")),
    _Detector("openai_key", re.compile(r"(?<![A-Za-z0-9_-])sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}")),
    _Detector("aws_access_key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    _Detector("github_token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})\b")),
    _Detector("slack_token", re.compile(r"\bxox[abprse]-[A-Za-z0-9-]{10,}")),
    _Detector("google_api_key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])")),
    _Detector("huggingface_token", re.compile(r"\bhf_[A-Za-z0-9]{30,}\b")),
    _Detector("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")),
    _Detector("bearer_token", re.compile(r"(?i)\bbearer\s+(?=\S*\d)([A-Za-z0-9._~+/-]{16,}=*)"), 1),
    _Detector("connection_string", re.compile(
        r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@'\"]+:([^\s@/'\"]+)@[^\s/'\"]+"), 1),
    _Detector("assigned_secret", re.compile(
        _ASSIGNED_KEY + r"[\"']?\s*[:=](?!=)\s*" + _ASSIGNED_VALUE, re.IGNORECASE)),
    _Detector("email", re.compile(r"(?<![:/])\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"), pii=True),
    _Detector("phone", re.compile(
        r"(?<![\w.+-])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,5}\)[\s.-]?|\d{2,5}[\s.-])"
        r"(?:\d{3,4}[\s.-]?\d{4}|\d{6,8})(?![\w]|[.-]\d)"),
        pii=True),
)

_PLACEHOLDER = re.compile(
    r"^(?:<[^>]*>|\{[^}]*\}|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|\.{3}|…|\*+|x+|X+|your[_ -].*|none|null|true|false)$",
    re.IGNORECASE,
)
_IDENTIFIER_OR_NUMBER = re.compile(r"^(?:[A-Za-z_][A-Za-z_.]*|[0-9.]+)$")


def _looks_like_code(value: str, *, env_style: bool) -> bool:
    """An unquoted value that is a name, attribute or number is code, except after
    an UPPER_CASE key (`DB_PASSWORD=letmein` in a .env file) where only numbers and
    dotted names (`os.environ`) are."""
    if not _IDENTIFIER_OR_NUMBER.match(value):
        return False
    return not env_style or "." in value or value[0].isdigit()


def _assigned_span(match: re.Match[str]) -> tuple[str, int, int] | None:
    """The value span of a `password=...` match, or None when the value is code or a placeholder."""
    for group in ("dq", "sq", "raw"):
        value = match.group(group)
        if value is None:
            continue
        if _PLACEHOLDER.match(value.strip()):
            return None
        if group == "raw" and _looks_like_code(value, env_style=match.group("name").isupper()):
            return None
        kind = "password" if match.group("key") and "pass" in match.group("key").lower() else "secret"
        return kind, match.start(group), match.end(group)
    return None


def _phone_digits_ok(text: str) -> bool:
    return 9 <= sum(ch.isdigit() for ch in text) <= 15


def _matches(detector: _Detector, text: str) -> list[Finding]:
    found = []
    for match in detector.pattern.finditer(text):
        if detector.kind == "assigned_secret":
            span = _assigned_span(match)
            if span:
                found.append(Finding(*span))
            continue
        if detector.kind == "connection_string" and _PLACEHOLDER.match(match.group(1)):
            continue
        if detector.kind == "phone" and not _phone_digits_ok(match.group(0)):
            continue
        found.append(Finding(detector.kind, match.start(detector.group), match.end(detector.group)))
    return found


def _without_overlaps(findings: list[Finding]) -> list[Finding]:
    """Earliest first; at the same start the longest wins; later overlapping ones are dropped."""
    kept: list[Finding] = []
    for finding in sorted(findings, key=lambda f: (f.start, -(f.end - f.start))):
        if kept and finding.start < kept[-1].end:
            if finding.end > kept[-1].end:  # extend so no secret character survives
                kept[-1] = Finding(kept[-1].kind, kept[-1].start, finding.end)
            continue
        kept.append(finding)
    return kept


def find_sensitive(text: str, *, detect_pii: bool = False) -> list[Finding]:
    """Secrets in `text`, in order, without overlaps. PII (emails, phones) only when asked."""
    findings: list[Finding] = []
    for detector in _DETECTORS:
        if detector.pii and not detect_pii:
            continue
        findings.extend(_matches(detector, text))
    return _without_overlaps(findings)


def redact(text: str, *, detect_pii: bool = False) -> str:
    """`text` with each finding replaced by `[REDACTED:<kind>]`."""
    pieces, cursor = [], 0
    for finding in find_sensitive(text, detect_pii=detect_pii):
        pieces.append(text[cursor:finding.start])
        pieces.append(f"[REDACTED:{finding.kind}]")
        cursor = finding.end
    pieces.append(text[cursor:])
    return "".join(pieces)


def kinds(findings: list[Finding]) -> list[str]:
    """The distinct kinds found, in order of first appearance (for messages: never the secret)."""
    return list(dict.fromkeys(f.kind for f in findings))
