"""SQLite log of every run, and of every request that left the machine.

Schema changes are appended to MIGRATIONS and never edited, so an old ledger
upgrades in place. Prompts are stored for replay with detected secrets
redacted; answers and keys never are. The ledger never costs an answer: see
ledger_open.py for a busy, corrupt or unwritable file; a write that still fails
is skipped with one line, and a failed read is a one-line LedgerError.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, TypeVar

from .errors import LedgerError
from .ledger_open import open_ledger, warn
from .types import RunRecord

MIGRATIONS: list[str] = []
MIGRATIONS.append(
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        session TEXT NOT NULL,
        started_at TEXT NOT NULL,
        magic TEXT NOT NULL,
        route TEXT NOT NULL,
        policy TEXT,
        handoff_requested INTEGER NOT NULL,
        handoff_performed INTEGER NOT NULL,
        blocked_by TEXT,
        stage TEXT,
        reason TEXT,
        local_backend TEXT, local_model TEXT,
        local_prompt_tokens INTEGER, local_completion_tokens INTEGER,
        local_ttft_s REAL, local_tokens_per_s REAL, local_seconds REAL,
        stopped_early INTEGER,
        cloud_model TEXT, cloud_host TEXT,
        cloud_prompt_tokens INTEGER, cloud_completion_tokens INTEGER,
        cloud_seconds REAL, cost_usd REAL,
        all_cloud_cost_usd REAL,
        prompt_redacted TEXT,
        signals_json TEXT NOT NULL,
        error TEXT,
        interrupted INTEGER NOT NULL DEFAULT 0,
        vote TEXT
    )
    """
)
MIGRATIONS.append(
    """
    CREATE TABLE cloud_requests (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER REFERENCES runs(id),
        session TEXT NOT NULL,
        sent_at TEXT NOT NULL,
        host TEXT NOT NULL,
        model TEXT NOT NULL,
        messages_json TEXT NOT NULL,
        prompt_tokens INTEGER, completion_tokens INTEGER,
        cost_usd REAL,
        ok INTEGER NOT NULL,
        error TEXT
    )
    """
)
MIGRATIONS.append("CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
# the cell's chat (system prompt, --chat history, prompt), each message redacted: votes replay it as the cell ran
MIGRATIONS.append("ALTER TABLE runs ADD COLUMN messages_redacted TEXT")


def apply_migrations(db: sqlite3.Connection, migrations: list[str]) -> None:
    """Run the migrations this database has not seen yet; PRAGMA user_version counts them. A file that is up to
    date takes no lock. Each pending one runs with its count in one write transaction that reads the count again
    first (SQLite's schema changes are transactional), so two kernels upgrading one file at once, or a crash
    between a statement and its count, never run it twice."""
    while db.execute("PRAGMA user_version").fetchone()[0] < len(migrations):
        db.execute("BEGIN IMMEDIATE")
        with db:  # commits, or rolls back (nothing to do when SQLite already has): the cause stays the error
            version = db.execute("PRAGMA user_version").fetchone()[0]  # another kernel may have run it meanwhile
            if version < len(migrations):
                db.execute(migrations[version])
                db.execute(f"PRAGMA user_version = {version + 1}")


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def reason_of(record: RunRecord) -> str:
    """The short 'why' of a run: the deciding signal, or what blocked the handoff."""
    decision = record.decision
    if decision.blocked_by:
        return f"blocked by {decision.blocked_by}"
    if decision.route == "cloud" and decision.reason:
        return decision.reason
    return "local answer accepted" if record.magic != "local" else "local"


T = TypeVar("T")


class Ledger:
    def __init__(self, path: str | Path, session: str | None = None):
        self.path = Path(path)
        self.session = session or uuid.uuid4().hex[:12]
        self._lock = threading.Lock()  # %%compare writes from two threads
        self._db, self.location = open_ledger(self.path, lambda db: apply_migrations(db, MIGRATIONS))
        self._write_failed = False

    def _read(self, action: Callable[[], T]) -> T:
        with self._lock:
            try:
                return action()
            except sqlite3.Error as error:
                raise LedgerError(f"cannot read the ledger {self.location} ({error}).") from None

    def _write(self, action: Callable[[], T]) -> T | None:
        """A write that fails (still locked after the busy timeout, disk full, file gone) skips the
        record and says so once: the answer matters more than its history."""
        with self._lock:
            try:
                with self._db:
                    return action()
            except sqlite3.Error as error:
                if not self._write_failed:
                    warn(f"cannot write the ledger {self.location} ({error}): this run is not recorded.")
                self._write_failed = True
                return None

    def close(self) -> None:
        self._db.close()

    def record_run(self, record: RunRecord, *, prompt_redacted: str, all_cloud_cost_usd: float | None,
                   messages_redacted: list[dict] | None = None) -> int | None:
        d, local, cloud = record.decision, record.local, record.cloud
        row = {
            "session": self.session, "started_at": record.started_at, "magic": record.magic,
            "route": d.route, "policy": d.policy, "handoff_requested": int(d.handoff_requested),
            "handoff_performed": int(d.handoff_performed), "blocked_by": d.blocked_by, "stage": d.stage,
            "reason": reason_of(record),
            "local_backend": local and local.backend, "local_model": local and local.model,
            "local_prompt_tokens": local and local.prompt_tokens,
            "local_completion_tokens": local and local.completion_tokens,
            "local_ttft_s": local and local.ttft_s, "local_tokens_per_s": local and local.tokens_per_s,
            "local_seconds": local and local.seconds, "stopped_early": local and int(local.stopped_early),
            "cloud_model": cloud and cloud.model, "cloud_host": cloud and cloud.host,
            "cloud_prompt_tokens": cloud and cloud.prompt_tokens,
            "cloud_completion_tokens": cloud and cloud.completion_tokens,
            "cloud_seconds": cloud and cloud.seconds, "cost_usd": cloud and cloud.cost_usd,
            "all_cloud_cost_usd": all_cloud_cost_usd, "prompt_redacted": prompt_redacted,
            "signals_json": json.dumps([asdict(s) for s in d.signals]),
            "error": record.error, "interrupted": int(record.interrupted),
            "messages_redacted": None if messages_redacted is None else json.dumps(messages_redacted),
        }
        return self._insert("runs", row)

    def record_cloud_request(self, *, run_id: int | None, host: str, model: str, messages: list[dict],
                             prompt_tokens: int | None, completion_tokens: int | None,
                             cost_usd: float | None, ok: bool, error: str | None) -> int | None:
        row = {"run_id": run_id, "session": self.session, "sent_at": utc_now(), "host": host, "model": model,
               "messages_json": json.dumps(messages), "prompt_tokens": prompt_tokens,
               "completion_tokens": completion_tokens, "cost_usd": cost_usd, "ok": int(ok), "error": error}
        return self._insert("cloud_requests", row)

    def link_cloud_requests(self, run_id: int | None, request_ids: list[int | None]) -> None:
        pairs = [(run_id, rid) for rid in request_ids if rid is not None]
        if run_id is not None and pairs:
            self._write(lambda: self._db.executemany("UPDATE cloud_requests SET run_id = ? WHERE id = ?", pairs))

    def _insert(self, table: str, row: dict[str, Any]) -> int | None:
        """The new row's id, or None when it could not be written."""
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        cursor = self._write(lambda: self._db.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})",
                                                      list(row.values())))
        return None if cursor is None else int(cursor.lastrowid)

    def set_vote(self, run_id: int | None, vote: str) -> None:
        if vote not in ("local", "cloud", "tie"):
            raise ValueError(f"vote must be local, cloud or tie, not {vote!r}")
        if run_id is not None:
            self._write(lambda: self._db.execute("UPDATE runs SET vote = ? WHERE id = ?", (vote, run_id)))

    def runs(self, *, session_only: bool = True, limit: int | None = None) -> list[dict[str, Any]]:
        query = "SELECT * FROM runs" + (" WHERE session = ?" if session_only else "") + " ORDER BY id DESC"
        params: tuple = (self.session,) if session_only else ()
        if limit:
            query += f" LIMIT {int(limit)}"
        return self._read(lambda: [dict(r) for r in self._db.execute(query, params)])

    def cloud_requests(self, *, since: str | None = None, session_only: bool = False) -> list[dict[str, Any]]:
        clauses, params = [], []
        if since:
            clauses.append("sent_at >= ?")
            params.append(since)
        if session_only:
            clauses.append("session = ?")
            params.append(self.session)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        return self._read(lambda: [dict(r) for r in self._db.execute(
            f"SELECT * FROM cloud_requests{where} ORDER BY id", params)])

    def session_spend(self) -> float:
        row = self._read(lambda: self._db.execute(
            "SELECT COALESCE(SUM(cost_usd), 0) FROM cloud_requests WHERE session = ?", (self.session,)).fetchone())
        return float(row[0])

    def totals(self, runs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Session totals for `%hybrid status` and the dashboard (pass `runs()` if already read)."""
        runs = self.runs() if runs is None else runs
        spend = self.session_spend()
        all_cloud = sum(r["all_cloud_cost_usd"] or 0.0 for r in runs)
        unknown = sum(1 for r in runs if r["all_cloud_cost_usd"] is None)
        return {
            "runs": len(runs),
            "local": sum(1 for r in runs if r["route"] == "local"),
            "cloud": sum(1 for r in runs if r["route"] == "cloud"),
            "blocked": sum(1 for r in runs if r["blocked_by"]),
            "cloud_spend_usd": spend,
            "all_cloud_cost_usd": all_cloud,
            "spend_avoided_usd": max(all_cloud - spend, 0.0),
            "runs_with_unknown_price": unknown,
        }

    def get_setting(self, key: str, default: str | None = None) -> str | None:
        row = self._read(lambda: self._db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone())
        return row[0] if row else default

    def set_setting(self, key: str, value: str) -> None:
        self._write(lambda: self._db.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)",
                                             (key, value)))

    def reset_session(self) -> None:
        """Start a new session: totals and budget count from zero; old rows stay for research."""
        self.session = uuid.uuid4().hex[:12]
