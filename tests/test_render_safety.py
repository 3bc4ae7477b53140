"""Nothing from a model becomes live HTML, and every displayed text is masked.

The Markdown answer is rendered with nbconvert's markdown2html (what the HTML
export uses for text/markdown outputs) and the result parsed for live tags,
event-handler attributes and script links.
"""
from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest
from nbconvert.filters.markdown import markdown2html

from hybrid_magic.display import safe
from hybrid_magic.display.render import answer_bundle
from hybrid_magic.display.widgets import DecisionCard
from hybrid_magic.types import Decision, LocalStats, RunRecord

LIVE_TAGS = {"script", "img", "iframe", "svg", "object", "embed", "style", "link", "form", "input", "video",
             "audio", "math", "base", "meta"}


class LiveParts(HTMLParser):
    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in LIVE_TAGS:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on") or (value or "").strip().lower().startswith(("javascript:", "data:", "vbscript:")):
                self.found.append(f"{tag}[{name}={value}]")


def live_parts(markdown: str) -> list[str]:
    parser = LiveParts()
    parser.feed(markdown2html(markdown))
    return parser.found


ATTACKS = {
    "script": "Sure! <script>alert(document.cookie)</script>",
    "img onerror": "Here: <img src=x onerror=alert(1)>",
    "iframe": "<iframe src='https://evil.example'></iframe>",
    "svg onload": "<svg onload=alert(1)><circle r=1></svg>",
    "javascript link": "[click me](javascript:alert(1))",
    "javascript link in angle brackets": "[click me](<javascript:alert(1)>)",
    "raw anchor": "<a href='javascript:alert(1)'>x</a>",
    "data link": "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "entity-encoded script": "&lt;script&gt;alert(1)&lt;/script&gt; <b onmouseover=alert(1)>hover</b>",
    "html block": "<div>\n<script>alert(1)</script>\n</div>",
    "unclosed code span": "`oops <script>alert(1)</script>",
    "style": "<style>body{display:none}</style>",
}
FORMATS = ["markdown", "code", "json"]
FENCE_BREAKERS = {
    "triple fence": "```\n</code></pre><script>alert(1)</script>\n```\n<script>alert(2)</script>",
    "longer fence": "````\nx\n````\n<img src=x onerror=alert(1)>",
    "tilde fence": "~~~\nx\n~~~\n<script>alert(1)</script>",
}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("label", list(ATTACKS) + list(FENCE_BREAKERS))
def test_model_text_never_renders_live(fmt, label):
    text = {**ATTACKS, **FENCE_BREAKERS}[label]
    markdown = answer_bundle(text, fmt)["text/markdown"] if fmt != "text" else None
    assert live_parts(markdown) == [], markdown


def test_markdown_stays_markdown_and_code_stays_code():
    text = "**Bold** and `a < b` here.\n\n```python\nif a < b:\n    print('<ok>')\n```\n"
    rendered = markdown2html(answer_bundle(text, "markdown")["text/markdown"])
    assert "<strong>Bold</strong>" in rendered and "<code>a &lt; b</code>" in rendered
    assert "print('<ok>')" in pre_text(rendered), "code keeps its < and quotes"


@pytest.mark.parametrize("fmt", ["code", "json"])
def test_a_fence_in_the_answer_stays_inside_the_code_block(fmt):
    text = 'before\n```\n{"a": "```"}\n```\nafter ```` end'
    rendered = markdown2html(answer_bundle(text, fmt)["text/markdown"])
    assert rendered.count("<pre>") == 1 and "after ```` end" in pre_text(rendered)


def pre_text(rendered: str) -> str:
    """The text inside the (one) code block, tags and entities undone."""
    return html.unescape(re.sub(r"<[^>]+>", "", rendered.split("<pre>", 1)[1]))


KEY = "gsk_live_0123456789abcdefABCDEF"  # not an sk- key: the format of another provider


def reasoning_record(reasoning: str, answer: str) -> RunRecord:
    decision = Decision("local", False, False, None, (), "local-only")
    stats = LocalStats("transformers", "smollm2-135m", completion_tokens=3)
    return RunRecord("local", decision, stats, None, "2026-01-01T00:00:00Z", answer=answer, reasoning=reasoning)


def test_the_reasoning_section_masks_a_prompt_secret():
    secret = "sk-proj-Zx8vQ2mN4bT7yR1wK9pL3sD6fG0hJ5cE"
    with safe.for_prompt(f"My key is {secret}, keep it."):
        card = DecisionCard(reasoning_record(f"The user's key is {secret[:20]}, I must not repeat it.", "ok"))
    shown = card.reasoning.children[0].value
    assert secret[:20] not in shown and "[REDACTED]" in shown


def test_the_configured_api_key_is_masked_whatever_its_format(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    bundle = answer_bundle(f"Your key is {KEY} and half of it is {KEY[:12]}.", "markdown")
    assert all(KEY[:12] not in value for value in bundle.values()), bundle
