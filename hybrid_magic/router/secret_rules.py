"""The secret ruleset, as data, from detect-secrets (Yelp, Apache-2.0, a maintained scanner).

Every regex-based plugin detect-secrets ships (Stripe, Slack incl. webhook URLs,
Azure storage AccountKey=, AWS, Twilio, SendGrid, npm, PyPI, GitLab, Discord,
Telegram, Mailchimp, Square, IBM, Cloudant, SoftLayer, Artifactory, private-key
headers, JWT, ...) becomes a (kind, pattern) rule; privacy.py adds the rules it
lacks (OpenAI project keys, Google/Hugging Face keys, bearer tokens, connection
strings, `password=...` assignments, "my password is ..." sentences). Upgrading
detect-secrets brings its new plugins in without a code change here.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
from detect_secrets.plugins.base import RegexBasedDetector

# Plugins left out, and why (the entropy and keyword plugins are not regex rules and are never used).
SKIPPED = {
    "Public IP (ipv4)": "an address is not a secret",
    "Basic Auth Credentials": "privacy.py's connection_string rule covers it and skips placeholders",
}
MIN_GROUP = 8  # a capture group this long is the secret; shorter groups (a prefix like `ghp`) are not
_LEADING = " \t\r\n=:\"'"  # delimiters some patterns match before the secret
_TRAILING = " \t\r\n\"'"  # ... and after it (never '=': base64 padding is part of a key)


@dataclass(frozen=True)
class Rule:
    kind: str
    pattern: re.Pattern[str]


def _kind(secret_type: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", secret_type.lower()).strip("_")


@cache
def ruleset() -> tuple[Rule, ...]:
    rules = []
    for secret_type, plugin in sorted(get_mapping_from_secret_type_to_class().items()):
        if secret_type in SKIPPED or not issubclass(plugin, RegexBasedDetector):
            continue
        rules += [Rule(_kind(secret_type), pattern) for pattern in plugin().denylist]
    return tuple(rules)


def secret_span(match: re.Match[str]) -> tuple[int, int]:
    """The secret inside a match: its longest capture group when that is long enough, else the whole
    match without the delimiters some patterns include (a leading space, a closing quote)."""
    groups = [(match.start(i), match.end(i)) for i in range(1, (match.re.groups or 0) + 1) if match.start(i) >= 0]
    start, end = max(groups, key=lambda span: span[1] - span[0], default=match.span())
    if end - start < MIN_GROUP:
        start, end = match.span()
    text = match.string
    while start < end and text[start] in _LEADING:
        start += 1
    while end > start and text[end - 1] in _TRAILING:
        end -= 1
    return start, end
