"""Cell text on its way to our cell magics.

IPython answers an empty `%%local` cell with its own message about line magics
before our magic is called; giving the cell a blank body lets the magic say, in
its own one line, that the cell is empty.
"""
from __future__ import annotations

import re

OUR_CELL_MAGIC = re.compile(r"^%%(local|hybrid|compare)\b")


def keep_empty_body(lines: list[str]) -> list[str]:
    """An IPython cleanup transformer: `%%local` with nothing below gets a blank body."""
    body = "".join(lines[1:])
    if lines and OUR_CELL_MAGIC.match(lines[0]) and not body:
        return [lines[0].rstrip("\n") + "\n", "\n"]
    return lines
