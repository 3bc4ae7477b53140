"""`{name}` in a cell is filled from the notebook namespace.

Unknown names are left as they are, `{{` and `}}` escape braces, and anything
that is not a plain name path (JSON, code) is left alone, so prompts that show
JSON still work.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

_FIELD = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])*)\}")
_PART = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


def _lookup(path: str, namespace: Mapping):
    root = re.match(r"[A-Za-z_][A-Za-z0-9_]*", path).group(0)
    value = namespace[root]
    for attr, index in _PART.findall(path[len(root):]):
        value = getattr(value, attr) if attr else value[int(index)]
    return value


def interpolate(text: str, namespace: Mapping) -> str:
    def fill(match: re.Match) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        try:
            return str(_lookup(match.group(1), namespace))
        except (KeyError, AttributeError, IndexError, TypeError):
            return token

    return _FIELD.sub(fill, text)
