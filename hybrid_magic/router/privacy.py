"""Find and redact secrets (and, on request, personal data) in prompt text.

The rules are data: detect-secrets' plugins (secret_rules.py) plus the rows
below for what it lacks. Each row is (kind, regex, value group): the finding
covers only the secret part, so `password=hunter2` becomes
`password=[REDACTED:password]` and the reader still sees what was there.
Patterns favour precision: ordinary prose and code (`token = tokenizer.encode(x)`,
`password: str`) must not match.

Text is scanned as a reader would see it: invisible characters (zero-width
spaces, joiners, soft hyphens: Unicode format characters) are dropped and
look-alike forms folded (NFKC); secret rules also see single spaces inside
digit-bearing runs closed up, so `sk-proj-Ab12 Cd34...` is caught whole.
Findings are mapped back onto the original text.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from .secret_rules import ruleset, secret_span


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
    _Detector("password", re.compile(  # "my password is hunter2", "our wifi passcode: 7f7f-aa"
        r"(?i)\b(?:my|our|the|your)\s+(?:[a-z0-9-]+\s+)?(?:password|passphrase|passcode|pin|secret key|api key)"
        r"\s+(?:is|was|=|:)\s*[\"'“]?([^\s\"'”]{4,}?)[\"'”]?(?=[.,;!?)]*(?:\s|$))"), 1),
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


# "my password is ..." followed by one of these is prose about a password, not one.
_NOT_A_PASSWORD = re.compile(
    r"^(?:not|now|still|being|too|very|also|just|only|the|same|different|empty|blank|wrong|correct|invalid|"
    r"weak|strong|safe|secure|long|short|secret|required|needed|incorrect|case-sensitive|[a-z]+(?:ed|ing|ly))$")


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
        if detector.kind == "password" and (_NOT_A_PASSWORD.match(match.group(1)) or _PLACEHOLDER.match(match.group(1))):
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


def _scan(text: str, *, detect_pii: bool, secrets: bool = True) -> list[Finding]:
    findings: list[Finding] = []
    for detector in _DETECTORS:
        if detector.pii and detect_pii or not detector.pii and secrets:
            findings.extend(_matches(detector, text))
    if secrets:
        findings += [Finding(rule.kind, *secret_span(m)) for rule in ruleset() for m in rule.pattern.finditer(text)]
    return [f for f in findings if f.end > f.start]


_RUN = re.compile(r"[A-Za-z0-9_-]+")
_DIGIT = re.compile(r"[0-9]")


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _view(text: str, *, join_split_keys: bool) -> tuple[str, Sequence[int]]:
    """`text` as a reader sees it, and for each of its characters the index it came from."""
    seen, origin = _folded(text)
    drop = _key_gaps(seen) if join_split_keys else set()
    if not drop:
        return seen, origin
    return "".join(c for i, c in enumerate(seen) if i not in drop), [o for i, o in enumerate(origin) if i not in drop]


def _folded(text: str) -> tuple[str, Sequence[int]]:
    """Invisible (format) characters dropped and look-alikes folded (NFKC); ASCII passes as it is."""
    if text.isascii():
        return text, range(len(text))
    pieces, origin, cursor = [], [], 0
    for match in _NON_ASCII.finditer(text):
        at = match.start()
        pieces.append(text[cursor:at])
        origin.extend(range(cursor, at))
        char = text[at]
        if unicodedata.category(char) != "Cf":  # zero-width space, joiners, soft hyphen, BOM
            folded = unicodedata.normalize("NFKC", char)
            pieces.append(folded)
            origin += [at] * len(folded)
        cursor = at + 1
    pieces.append(text[cursor:])
    origin.extend(range(cursor, len(text)))
    return "".join(pieces), origin


def _key_gaps(text: str) -> set[int]:
    """Single spaces between two runs that each hold a digit and 4+ characters: a key split in two."""
    runs = [m for m in _RUN.finditer(text) if m.end() - m.start() >= 4 and _DIGIT.search(m.group(0))]
    return {left.end() for left, right in zip(runs, runs[1:])
            if right.start() == left.end() + 1 and text[left.end()] in " \t"}


def _mapped(findings: list[Finding], origin: Sequence[int]) -> list[Finding]:
    return [Finding(f.kind, origin[f.start], origin[f.end - 1] + 1) for f in findings]


def find_sensitive(text: str, *, detect_pii: bool = False) -> list[Finding]:
    """Secrets in `text`, in order, without overlaps. PII (emails, phones) only when asked."""
    seen, origin = _view(text, join_split_keys=False)
    findings = _mapped(_scan(seen, detect_pii=detect_pii), origin)
    joined, joined_origin = _view(text, join_split_keys=True)
    if joined != seen:
        findings += _mapped(_scan(joined, detect_pii=False), joined_origin)
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


def redact_messages(messages: Sequence[dict], *, detect_pii: bool = False) -> list[dict]:
    """Each message's role and content, the content redacted: how the ledger keeps a chat."""
    return [{"role": m["role"], "content": redact(m["content"], detect_pii=detect_pii)} for m in messages]


def kinds(findings: list[Finding]) -> list[str]:
    """The distinct kinds found, in order of first appearance (for messages: never the secret)."""
    return list(dict.fromkeys(f.kind for f in findings))
