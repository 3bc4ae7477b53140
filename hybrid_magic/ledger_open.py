"""Opening the ledger so that it never costs an answer.

- busy (another process writing): SQLite waits up to BUSY_TIMEOUT_S, in WAL mode
  so readers never wait for a writer;
- corrupt (truncated, random bytes, a text file, a directory): moved aside as
  `<name>.corrupt-<UTC time>` (never deleted) and a fresh ledger started;
- unwritable (read-only folder, HYBRID_MAGIC_HOME or HOME pointing at a file):
  an in-memory ledger for this session, so runs, status and budget still work.
Each case says so in one `hybrid_magic:` line on stderr.
"""
from __future__ import annotations

import sqlite3
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

BUSY_TIMEOUT_S = 30.0  # a write waits this long for another process's lock (then the run is not recorded)
MEMORY = ":memory:"


def warn(message: str) -> None:
    print(f"hybrid_magic: {message}", file=sys.stderr)


def connect(path: Path | str) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
    db.row_factory = sqlite3.Row
    return db


def _checked(path: Path, migrate: Callable[[sqlite3.Connection], None]) -> sqlite3.Connection:
    """Open, switch to WAL, prove the file is a sound database, and migrate; raises on any failure."""
    if path.is_dir():
        raise sqlite3.DatabaseError("it is a directory")
    db = connect(path)
    try:
        db.execute("PRAGMA journal_mode=WAL")  # readers do not wait for a writer
        verdict = db.execute("PRAGMA quick_check(1)").fetchone()[0]
        if verdict != "ok":
            raise sqlite3.DatabaseError(verdict)
        migrate(db)
        return db
    except BaseException:
        db.close()
        raise


def _is_corrupt(error: sqlite3.Error, path: Path) -> bool:
    """A database that is there but unreadable (not: a folder we may not write)."""
    if path.is_dir():
        return True
    return isinstance(error, sqlite3.DatabaseError) and not isinstance(error, sqlite3.OperationalError) \
        or "malformed" in str(error) or "not a database" in str(error)


def move_aside(path: Path) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    path.rename(target)
    for suffix in ("-wal", "-shm"):  # its journal belongs to it
        journal = path.with_name(path.name + suffix)
        if journal.exists():
            journal.rename(target.with_name(target.name + suffix))
    return target


def open_ledger(path: Path, migrate: Callable[[sqlite3.Connection], None]) -> tuple[sqlite3.Connection, Path | str]:
    """The ledger's connection and where it lives (MEMORY when the file cannot be used)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return _checked(path, migrate), path
    except (sqlite3.Error, OSError) as error:
        problem = error
    if isinstance(problem, sqlite3.Error) and _is_corrupt(problem, path):
        try:
            moved = move_aside(path)
            db = _checked(path, migrate)
            warn(f"the ledger {path} was unreadable ({problem}); moved it to {moved} and started a fresh one.")
            return db, path
        except (sqlite3.Error, OSError) as error:
            problem = error
    db = connect(MEMORY)
    migrate(db)
    warn(f"cannot write the ledger {path} ({_one_line(problem)}): history is not being recorded "
         "(this session's runs are kept in memory only).")
    return db, MEMORY


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
