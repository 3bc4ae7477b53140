"""The ledger never costs an answer: busy, corrupt or unwritable, the cell still answers (real shell,
real SmolLM2), says what happened to the ledger in one line, and `%hybrid status` still works."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from IPython.utils.capture import capture_output

from hybrid_magic.display.mime import MIME_TYPE
from hybrid_magic.ledger import Ledger
from hybrid_magic.magics import HybridMagics

PARIS = "What is the capital of France?"


def new_magics(shell, **settings) -> HybridMagics:
    instance = HybridMagics(shell=shell, backend="transformers", **settings)
    shell.register_magics(instance)
    return instance


def local_cell(shell):
    with capture_output() as captured:
        shell.run_cell_magic("local", "--max-tokens 8", PARIS)
    answers = [o.data["text/plain"] for o in captured.outputs if MIME_TYPE not in o.data]
    assert "Traceback" not in captured.stderr + captured.stdout, captured.stderr
    assert answers and "Paris" in answers[-1], "the answer comes whatever the ledger does"
    return captured


def hybrid_line(shell, text: str):
    with capture_output() as captured:
        shell.run_line_magic("hybrid", text)
    assert "Traceback" not in captured.stderr + captured.stdout
    return captured


def stderr_lines(captured) -> list[str]:
    return [line for line in captured.stderr.splitlines() if line.strip()]


def test_a_ledger_locked_by_another_process_for_12s_waits_and_records(shell, tmp_path):
    path = tmp_path / "ledger.sqlite"
    Ledger(path).close()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sqlite3, sys, time\n"
        f"db = sqlite3.connect({str(path)!r}, isolation_level=None)\n"
        "db.execute('BEGIN IMMEDIATE')\n"
        "db.execute(\"INSERT INTO settings VALUES ('holder', 'x')\")\n"
        "print('locked', flush=True)\n"
        "time.sleep(12)\n"
        "db.execute('COMMIT')\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        magics = new_magics(shell, ledger_path=str(path))
        captured = local_cell(shell)
        assert not stderr_lines(captured), captured.stderr
    finally:
        holder.wait(timeout=60)
    assert len(magics.engine.ledger.runs()) == 1 and time.monotonic() - started >= 1
    assert magics.engine.ledger.get_setting("holder") == "x"


def _truncated(path: Path) -> None:
    ledger = Ledger(path)
    for i in range(300):
        ledger.set_setting(f"k{i}", "x" * 500)
    ledger.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


CORRUPT = {
    "truncated": _truncated,
    "random bytes": lambda path: path.write_bytes(os.urandom(8192)),
    "a text file": lambda path: path.write_text("these are my notes\n" * 200),
    "a directory": lambda path: (path.mkdir(), (path / "inside.txt").write_text("keep me")),
}


@pytest.mark.parametrize("label", CORRUPT)
def test_a_corrupt_ledger_is_moved_aside_and_a_fresh_one_started(shell, tmp_path, label):
    path = tmp_path / "ledger.sqlite"
    CORRUPT[label](path)
    before = sorted(p.name for p in tmp_path.iterdir())
    magics = new_magics(shell, ledger_path=str(path))
    captured = local_cell(shell)
    [line] = stderr_lines(captured)
    [moved] = [p for p in tmp_path.iterdir() if p.name.startswith("ledger.sqlite.corrupt-")]
    assert line.startswith("hybrid_magic: the ledger") and str(moved) in line
    assert before == ["ledger.sqlite"] and moved.exists(), "moved aside, never deleted"
    assert len(magics.engine.ledger.runs()) == 1 and sqlite3.connect(path).execute(
        "SELECT COUNT(*) FROM runs").fetchone()[0] == 1
    local_cell(shell)  # the next cell: no more messages
    assert "runs this session: 2" in hybrid_line(shell, "status").stdout


@pytest.mark.parametrize("variable", ["HYBRID_MAGIC_HOME", "HOME"])
def test_a_home_that_is_a_file_means_runs_go_on_unrecorded(shell, tmp_path, monkeypatch, variable):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file")
    if variable == "HOME":
        monkeypatch.delenv("HYBRID_MAGIC_HOME")
    monkeypatch.setenv(variable, str(blocker))
    magics = new_magics(shell)
    captured = local_cell(shell)
    [line] = stderr_lines(captured)
    assert line.startswith("hybrid_magic: cannot write the ledger") and "history is not being recorded" in line
    assert "runs this session: 1" in hybrid_line(shell, "status").stdout
    assert "#1" in hybrid_line(shell, "history").stdout and magics.engine.ledger.location == ":memory:"


def read_only_folder(tmp_path: Path) -> Path:
    """A folder this process cannot create files in. Root ignores a folder's mode bits, so as root
    it is sysfs, which refuses new files to everyone."""
    if os.geteuid() == 0:
        return Path("/sys/kernel")
    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


def test_a_read_only_home_gives_one_line_and_runs_go_on(shell, tmp_path):
    magics = new_magics(shell, ledger_path=str(read_only_folder(tmp_path) / "ledger.sqlite"))
    captured = local_cell(shell)
    [line] = stderr_lines(captured)
    assert line.startswith("hybrid_magic: cannot write the ledger") and "not being recorded" in line
    assert "runs this session: 1" in hybrid_line(shell, "status").stdout
    assert magics.engine.ledger.location == ":memory:"


def test_a_ledger_from_before_the_chat_column_upgrades_in_place_and_keeps_its_rows(shell, tmp_path):
    from hybrid_magic.ledger import MIGRATIONS, apply_migrations

    path = tmp_path / "ledger.sqlite"
    old = sqlite3.connect(path)
    apply_migrations(old, MIGRATIONS[:3])  # the schema of 0.1, before runs kept each cell's chat
    old.execute("INSERT INTO runs (session, started_at, magic, route, handoff_requested, handoff_performed, "
                "prompt_redacted, signals_json) VALUES ('s', '2026-01-01', 'local', 'local', 0, 0, 'Hi', '[]')")
    old.commit()
    old.close()
    magics = new_magics(shell, ledger_path=str(path))
    with capture_output() as captured:
        shell.run_cell_magic("local", '--max-tokens 8 --system "Answer briefly."', PARIS)
    assert not stderr_lines(captured), "no message: the upgrade is silent"
    new, earlier = magics.engine.ledger.runs(session_only=False)
    assert (earlier["prompt_redacted"], earlier["messages_redacted"]) == ("Hi", None)
    assert json.loads(new["messages_redacted"]) == [{"role": "system", "content": "Answer briefly."},
                                                    {"role": "user", "content": PARIS}]


def test_two_kernels_upgrading_one_ledger_at_once_run_each_migration_once(tmp_path):
    import threading

    from hybrid_magic.ledger import MIGRATIONS, apply_migrations
    from hybrid_magic.ledger_open import connect

    path = tmp_path / "ledger.sqlite"
    apply_migrations(connect(path), MIGRATIONS[:3])  # an old ledger
    other, started = connect(path), threading.Event()

    def other_kernel():  # holds the write lock mid-upgrade: the statement run, its count not yet committed
        other.execute("BEGIN IMMEDIATE")
        other.execute(MIGRATIONS[3])
        started.set()
        time.sleep(0.5)
        other.execute("PRAGMA user_version = 4")
        other.execute("COMMIT")

    upgrading = threading.Thread(target=other_kernel)
    upgrading.start()
    started.wait()
    this = connect(path)
    apply_migrations(this, MIGRATIONS)  # waits for the other kernel, then finds the migration counted
    upgrading.join()
    assert this.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert [row[1] for row in this.execute("PRAGMA table_info(runs)")].count("messages_redacted") == 1
