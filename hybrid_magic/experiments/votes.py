"""%%compare votes as labels for fit_policy: `Experiment.from_votes()`.

Each %%compare cell the user voted on becomes one item: its chat as the ledger stored it (secrets
redacted): the prompt, with the cell's --system prompt and --chat history as the item's own context
(datasets.item_chat), so the answer regenerated and the router's prompt_length and question form are
those of the live cell; labelled by the vote. The rule: the local answer counts as right when the vote
is `local` or `tie` (a tie means handing it off would not have made it better), wrong when it is `cloud`.
The local answer is generated again by the Experiment (greedy, like the default
%%compare), on the model and backend the votes were cast on when they were all cast on
one (pass local=/backend= to choose), so the signals are those of the answer the user
judged when the cell ran greedily with the same max_tokens and backend. A chat voted more than once
keeps its latest vote. The cloud is not asked again: the cloud side is the oracle.
A cell recorded before the ledger kept the chat (an older version) has only its joined text: it becomes
one prompt, so a --system prompt or --chat history is read as part of the question; voted again under this
version, its later vote stands (the older row is left out when a later kept chat has the same joined text).
"""
from __future__ import annotations

import json
from collections import Counter

from ..errors import UsageError

RIGHT = ("local", "tie")  # votes that count the local answer as right


def voted_items(rows: list[dict]) -> list[dict]:
    """One item per voted %%compare chat (its local run's row), latest vote first wins."""
    items: dict[str, dict] = {}
    texts: set[str] = set()  # the joined text of every chat kept
    for row in sorted(rows, key=lambda r: r["id"], reverse=True):
        joined = (row.get("prompt_redacted") or "").strip()
        if row["magic"] == "compare" and row["route"] == "local" and row.get("vote") and joined:
            if not row.get("messages_redacted") and joined in texts:
                continue  # an older version's row (its joined text only) voted again since: the later vote stands
            texts.add(joined)
            chat = chat_of(row)  # the same chat voted twice is one item, whichever version stored it
            items.setdefault(json.dumps({k: v for k, v in chat.items() if v}, sort_keys=True), {
                "id": f"vote-{row['id']}", **chat, "reference": row["vote"], "vote": row["vote"],
                "local_model": row.get("local_model"), "local_backend": row.get("local_backend")})
    if not items:
        raise UsageError("No voted %%compare cells in the ledger: vote local, cloud or tie under a %%compare "
                         "output first, or pass labelled items to Experiment(...).")
    return list(items.values())


def chat_of(row: dict) -> dict:
    """The item's prompt and its own chat context (system, history) from the stored chat; a row from before
    the ledger kept it: its joined text as the prompt."""
    messages = json.loads(row.get("messages_redacted") or "[]")
    if not messages:
        return {"prompt": row["prompt_redacted"].strip()}
    *context, last = messages
    system = [m["content"] for m in context[:1] if m["role"] == "system"]
    return {"prompt": last["content"], "system": next(iter(system), None), "history": context[len(system):]}


def same_side(items: list[dict]) -> dict:
    """Regenerate on the model and backend the votes were cast on, when they were all cast on one
    (near ties flip between backends); otherwise the Experiment's own defaults."""
    sides = {(item["local_model"], item["local_backend"]) for item in items}
    if len(sides) != 1 or None in next(iter(sides)):
        return {}
    model, backend = next(iter(sides))
    return {"local": model, "backend": backend}


def vote_scorer(answer: str, item: dict) -> float:
    """1.0 when the user's vote says the local answer was right (RIGHT), else 0.0; the answer text is not read."""
    return 1.0 if item["vote"] in RIGHT else 0.0


vote_scorer.takes_item = True


def labels_text(items: list[dict]) -> str:
    """For the fit report, e.g. '%%compare votes (local 5, tie 2, cloud 6)'."""
    counts = Counter(item["vote"] for item in items)
    return "%%compare votes (" + ", ".join(f"{v} {counts.get(v, 0)}" for v in ("local", "tie", "cloud")) + ")"


def from_votes(experiment_class, ledger, options: dict):
    """Experiment.from_votes: the voted items, scored by the votes, labelled as such in the fit report."""
    fixed = sorted({"cloud", "scorer"} & set(options))
    if fixed:
        raise UsageError(f"from_votes() sets {' and '.join(fixed)} itself (the votes are the labels, the cloud "
                         "side is the oracle): leave them out.")
    items = voted_items(ledger.runs(session_only=False))
    exp = experiment_class(items, scorer=vote_scorer, **{"name": "votes", **same_side(items), **options})
    exp.labels = labels_text(items)
    return exp
