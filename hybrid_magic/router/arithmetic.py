"""Recompute the arithmetic a local answer writes out: `a op b = c` checked exactly.

Small models often state a wrong sum with high confidence; a wrong equation in the
answer is a cheap, certain sign that the answer is wrong (the `arithmetic` signal).
"""
from __future__ import annotations

import operator
import re

_NUM = r"-?\d[\d,]*(?:\.\d+)?"
_EQUATION = re.compile(rf"({_NUM})\s*([+\-*/×÷]|\s[xX]\s)\s*({_NUM})\s*=\s*({_NUM})")
_OPERATORS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "×": operator.mul, "x": operator.mul,
              "X": operator.mul, "/": operator.truediv, "÷": operator.truediv}


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _inside_longer_expression(text: str, start: int, end: int) -> bool:
    before, after = text[:start].rstrip(), text[end:].lstrip()
    return bool(before and before[-1] in "+-*/×÷^(=") or bool(after and (after[0] in "+-*/×÷^(" or after[0].isdigit()))


def wrong_equations(text: str) -> tuple[int, list[str]]:
    """(how many plain `a op b = c` the text states, the wrong ones as "a op b = c, but it is d").
    One inside a longer expression (2 + 3 * 4 = 14) is skipped: precedence is not guessed."""
    checked, wrong = 0, []
    for found in _EQUATION.finditer(text):
        a, op, b, c = found.group(1), found.group(2).strip(), found.group(3), found.group(4)
        if _inside_longer_expression(text, found.start(), found.end()) or (op in "/÷" and _number(b) == 0):
            continue
        actual = _OPERATORS[op](_number(a), _number(b))
        decimals = len(c.split(".")[1]) if "." in c else 0
        checked += 1
        if abs(actual - _number(c)) > 0.5 * 10 ** -decimals + 1e-9:
            wrong.append(f"{a} {op} {b} = {c}, but it is {actual:g}")
    return checked, wrong
