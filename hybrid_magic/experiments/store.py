"""SQLite store of experiment generations, so an interrupted run resumes and a re-run is free.

One row per (experiment, item, side, model, params): side is "local" or "cloud",
params is the canonical JSON of the generation settings. The payload is JSON
(answer, token logprobs, signals, timings, cost). Each row is committed as soon
as it is written, so a crash loses at most the item in flight.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..config import home_dir
from ..ledger import apply_migrations

# Append-only: a new schema change is a new entry, never an edit of an old one.
MIGRATIONS: list[str] = []
MIGRATIONS.append(
    """CREATE TABLE generations (
        experiment TEXT NOT NULL, item TEXT NOT NULL, side TEXT NOT NULL,
        model TEXT NOT NULL, params TEXT NOT NULL, created_at TEXT NOT NULL,
        payload TEXT NOT NULL,
        PRIMARY KEY (experiment, item, side, model, params))"""
)


def default_path() -> Path:
    return home_dir() / "experiments.sqlite"


@dataclass(frozen=True)
class GenerationKey:
    experiment: str
    item: str
    side: str  # "local" | "cloud"
    model: str
    params: str  # canonical JSON of the generation settings

    @staticmethod
    def params_json(params: dict[str, Any]) -> str:
        return json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)


class ResultStore:
    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path)
        self._migrate()

    def _migrate(self) -> None:
        apply_migrations(self._db, MIGRATIONS)

    def get(self, key: GenerationKey) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT payload FROM generations WHERE experiment=? AND item=? AND side=? AND model=? AND params=?",
            (key.experiment, key.item, key.side, key.model, key.params),
        ).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: GenerationKey, payload: dict[str, Any]) -> None:
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO generations VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key.experiment, key.item, key.side, key.model, key.params, created, json.dumps(payload)),
            )

    def count(self, experiment: str, side: str | None = None) -> int:
        query, args = "SELECT COUNT(*) FROM generations WHERE experiment=?", [experiment]
        if side is not None:
            query, args = query + " AND side=?", args + [side]
        return self._db.execute(query, args).fetchone()[0]

    def delete_experiment(self, experiment: str) -> int:
        with self._db:
            return self._db.execute("DELETE FROM generations WHERE experiment=?", (experiment,)).rowcount

    def close(self) -> None:
        self._db.close()
