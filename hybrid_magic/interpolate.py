"""`{name}` in a cell is filled from the notebook namespace.

Only plain names are filled: `{a.b}`, `{a[0]}` and anything else are left as
written, so filling a prompt never runs user code beyond the value's own
`__str__` (no properties, no `__getitem__`). Unknown names are left as they are,
`{{` and `}}` escape braces, so prompts that show JSON or code still work.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

from .errors import UsageError

_FIELD = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


def interpolate(text: str, namespace: Mapping) -> str:
    def fill(match: re.Match) -> str:
        token, name = match.group(0), match.group(1)
        if name is None:
            return token[0]  # {{ or }}
        if name not in namespace:
            return token
        try:
            return str(namespace[name])
        except Exception as error:  # the value's own __str__ failed
            detail = " ".join(str(error).split())
            raise UsageError(f"{{{name}}}: str() of the value failed ({type(error).__name__}: {detail}); "
                             "fix it or use --no-interpolate.") from None

    return _FIELD.sub(fill, text)


def encodable(text: str, what: str) -> str:
    """`text` unchanged, or a UsageError naming the first character UTF-8 cannot carry (a lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        bad = text[error.start]
        raise UsageError(f"The {what} contains {bad!r} at character {error.start}, a lone surrogate that "
                         "cannot be sent or stored: remove it.") from None
    return text
