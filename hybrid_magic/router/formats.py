"""Does an answer have the format the cell asked for? Pure checks, nothing is executed.

Each check returns `(ok, detail)`: detail is a short phrase for the signal's message.
"""
from __future__ import annotations

import json
import re

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)


def strip_fence(text: str, languages: tuple[str, ...] = ()) -> str:
    """The body of the first fenced block (preferring one tagged with `languages`), else the text."""
    blocks = _FENCE.findall(text)
    for language, body in blocks:
        if language.lower() in languages:
            return body
    return blocks[0][1] if blocks else text


def extract_json(text: str) -> tuple[bool, object]:
    """Parse the answer as JSON: the whole (unfenced) text, else the first {...} or [...] value."""
    body = strip_fence(text, ("json",)).strip()
    try:
        return True, json.loads(body)
    except ValueError:
        pass
    decoder = json.JSONDecoder()
    starts = [i for i in (body.find("{"), body.find("[")) if i >= 0]
    for start in sorted(starts):
        try:
            return True, decoder.raw_decode(body, start)[0]
        except ValueError:
            continue
    return False, None


def check_json(text: str) -> tuple[bool, str]:
    ok, _ = extract_json(text)
    return (True, "parses as JSON") if ok else (False, "does not parse as JSON")


def check_python(text: str) -> tuple[bool, str]:
    """Compile (never run) the answer's code as Python."""
    source = strip_fence(text, ("python", "py", "python3"))
    if not source.strip():
        return False, "contains no code"
    try:
        compile(source, "<answer>", "exec")
    except SyntaxError as error:
        return False, f"does not compile as Python ({error.msg}, line {error.lineno})"
    except ValueError as error:  # e.g. null bytes
        return False, f"does not compile as Python ({error})"
    return True, "compiles as Python"


FORMAT_CHECKS = {"json": check_json, "code": check_python}
