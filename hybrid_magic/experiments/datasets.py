"""Datasets: a list of items, each with `prompt`, `reference` and optional metadata.

An item may carry its own chat context: `system` (a system prompt) and `history` (earlier turns, a list of
{"role", "content"}), as a voted %%compare cell run with --system or --chat does (experiments/votes.py);
`item_chat` lays it out as %%hybrid does, and `item_key` tells two contexts apart.

Accepted sources: a list of dicts, a pandas DataFrame, a JSONL path, or the name of
a built-in set (`arithmetic`, `factual`, `units`, `json`). Built-in sets are small,
offline, have checkable answers and a `difficulty` from 1 (easy) to 3 (hard), so an
experiment runs out of the box.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..types import Message, chat_messages

DATA_DIR = Path(__file__).parent / "data"
BUILTIN_FILES = {
    "arithmetic": "arithmetic.jsonl",
    "factual": "factual.jsonl",
    "units": "units.jsonl",
    "json": "json_format.jsonl",
}

Item = dict[str, Any]
CONTEXT = ("system", "history")  # an item's own chat context (item_chat)


def load_dataset(source: Any) -> list[Item]:
    """Normalise any accepted source into a list of items, each with a unique `id`."""
    if isinstance(source, str) and source in BUILTIN_FILES:
        return load_builtin(source)
    if isinstance(source, (str, os.PathLike)):
        return _normalise(_read_jsonl(Path(source)), origin=str(source))
    if _is_dataframe(source):
        return _normalise(source.to_dict(orient="records"), origin="DataFrame")
    if isinstance(source, (list, tuple)):
        return _normalise(list(source), origin="list")
    raise UsageError(
        f"Unsupported dataset {type(source).__name__}: pass a list of dicts, a DataFrame, a JSONL path "
        f"or a built-in name ({', '.join(BUILTIN_FILES)})."
    )


def load_builtin(name: str) -> list[Item]:
    """One built-in set by name (`arithmetic`, `factual`, `units`, `json`)."""
    if name not in BUILTIN_FILES:
        raise UsageError(f"Unknown built-in set {name!r}: choose one of {', '.join(BUILTIN_FILES)}.")
    return _normalise(_read_jsonl(DATA_DIR / BUILTIN_FILES[name]), origin=name)


def builtin_mix(n: int = 30) -> list[Item]:
    """`n` items drawn evenly from every built-in set and difficulty, deterministically."""
    pools = [sorted(load_builtin(name), key=lambda item: (item.get("difficulty", 0), item["id"]))
             for name in BUILTIN_FILES]
    total = sum(len(pool) for pool in pools)
    if not 1 <= n <= total:
        raise UsageError(f"builtin_mix(n={n}): choose n between 1 and {total}.")
    picked: list[Item] = []
    for pool in pools:  # spread each pool's share over its difficulty-sorted list
        share = round(n * len(pool) / total)
        step = len(pool) / max(share, 1)
        picked.extend(pool[int(i * step)] for i in range(min(share, len(pool))))
    return _fix_count(picked, pools, n)


def _fix_count(picked: list[Item], pools: list[list[Item]], n: int) -> list[Item]:
    """Rounding can leave a few too many or too few: trim or top up from unused items."""
    chosen = {item["id"] for item in picked}
    spare = [item for pool in pools for item in pool if item["id"] not in chosen]
    return (picked + spare)[:n]


def _read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        raise UsageError(f"Dataset file {path} does not exist.")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise UsageError(f"{path}:{number} is not valid JSON ({error.msg}).") from None
    return rows


def _normalise(rows: list[Any], origin: str) -> list[Item]:
    items: list[Item] = []
    for index, row in enumerate(rows):
        if not isinstance(row, dict) or not str(row.get("prompt") or "").strip():
            raise UsageError(f"Item {index} of {origin} needs a non-empty 'prompt' (and a 'reference').")
        item = {key: value for key, value in row.items() if not _is_missing(value)}
        _check_context(item, f"Item {index} of {origin}")
        item["id"] = str(item.get("id", index))
        item.setdefault("reference", None)
        items.append(item)
    duplicates = len(items) - len({item["id"] for item in items})
    if duplicates:
        raise UsageError(f"{origin} has {duplicates} duplicate item id(s): ids must be unique.")
    return items


def item_key(item: Item) -> str:
    """The id plus a hash of the prompt (and of the item's own chat context, when it has one): editing either
    never reuses a stale answer."""
    context = {key: item[key] for key in CONTEXT if item.get(key)}
    text = str(item["prompt"]) + (json.dumps(context, sort_keys=True) if context else "")
    return f"{item['id']}#{hashlib.sha1(text.encode('utf-8')).hexdigest()[:10]}"


def item_chat(item: Item, system: str | None = None) -> list[Message]:
    """The item's chat as %%hybrid lays it out: its own system prompt and earlier turns when it has them
    (else the experiment's `system`), then its prompt."""
    return chat_messages(str(item["prompt"]), item.get("system") or system, item.get("history") or ())


def _check_context(item: Item, where: str) -> None:
    """An item's own chat context (CONTEXT) is a system prompt string and a list of earlier turns."""
    system, history = item.get("system"), item.get("history")
    if system is not None and not isinstance(system, str):
        raise UsageError(f"{where}: 'system' must be a string (the item's own system prompt).")
    if history is not None and not (isinstance(history, list) and all(map(_is_turn, history))):
        raise UsageError(f"{where}: 'history' must be a list of {{\"role\": ..., \"content\": ...}} turns.")


def _is_turn(turn: Any) -> bool:
    return isinstance(turn, dict) and isinstance(turn.get("role"), str) and isinstance(turn.get("content"), str)


def _is_dataframe(value: Any) -> bool:
    return type(value).__name__ == "DataFrame" and hasattr(value, "to_dict")


def _is_missing(value: Any) -> bool:
    return isinstance(value, float) and value != value  # NaN from a DataFrame's empty cells
