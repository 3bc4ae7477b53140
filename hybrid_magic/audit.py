"""`%hybrid audit`: every request that left the machine, as the ledger recorded it.

    %hybrid audit                    this session
    %hybrid audit --since 7d         the last 7 days (s, m, h, d, w), every session
    %hybrid audit --since 2026-01-01 since a date (UTC)
    %hybrid audit --all              everything in the ledger
    %hybrid audit --export out.csv   also write the rows (.json or .csv)

Each row: when, to which host and model, the messages exactly as sent with
detected secrets redacted (as stored), tokens, cost and whether it worked.
Cells that stayed local made no request, so they never appear.
"""
from __future__ import annotations

import argparse
import csv
import html
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from IPython.display import display

from .errors import UsageError

_SPAN = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
EXPORT_FIELDS = ("id", "run_id", "session", "sent_at", "host", "model", "messages", "prompt_tokens",
                 "completion_tokens", "cost_usd", "ok", "error")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse would exit the kernel's process
        raise UsageError(f"%hybrid audit: {message} (use --since 7d, --all, --export FILE).")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="%hybrid audit", add_help=False)
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("--since", default=None)
    scope.add_argument("--all", action="store_true")
    parser.add_argument("--export", default=None)
    return parser


def since_timestamp(text: str, now: datetime | None = None) -> str:
    """'7d', '12h', '30m' or an ISO date/time -> the ledger's UTC timestamp format."""
    now = now or datetime.now(timezone.utc)
    span = _SPAN.match(text.strip().lower())
    if span:
        try:
            moment = now - timedelta(**{_UNITS[span[2]]: int(span[1])})
        except OverflowError:  # 99999999d reaches before year 1
            raise UsageError(f"--since {text!r} reaches back too far: use --all for everything.") from None
    else:
        try:
            moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(f"--since takes a span like 7d, 12h, 30m or a date like 2026-01-31, not {text!r}.") from None
        moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def audit_rows(ledger, *, since: str | None = None, everything: bool = False) -> list[dict[str, Any]]:
    """The ledger's cloud requests, messages decoded. Default: this session only."""
    rows = ledger.cloud_requests(since=since, session_only=not (since or everything))
    return [{**{k: v for k, v in row.items() if k != "messages_json"},
             "messages": json.loads(row["messages_json"]), "ok": bool(row["ok"])} for row in rows]


def export_rows(rows: list[dict[str, Any]], path: str | Path) -> Path:
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if suffix not in (".json", ".csv"):
        raise UsageError(f"--export writes .json or .csv files, not {path.name!r}.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)  # a missing folder is made
        return _write_rows(rows, path, suffix)
    except OSError as error:
        raise UsageError(f"--export: cannot write {str(path)!r} ({error.strerror or error}).") from None


def _write_rows(rows: list[dict[str, Any]], path: Path, suffix: str) -> Path:
    if suffix == ".json":
        path.write_text(json.dumps(rows, indent=2, ensure_ascii=False), encoding="utf-8")
        return path
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=EXPORT_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "messages": json.dumps(row["messages"], ensure_ascii=False)})
    return path


def _scope(since: str | None, everything: bool) -> str:
    return "in the whole ledger" if everything else f"since {since}" if since else "in this session"


def _cost(value: float | None) -> str:
    return "price unknown" if value is None else f"${value:.6f}"


def _tokens(row: dict) -> str:
    return f"{row['prompt_tokens'] or 0} in / {row['completion_tokens'] or 0} out"


def audit_text(rows: list[dict[str, Any]], scope: str) -> str:
    if not rows:
        return f"Nothing left this machine {scope}: every cell stayed local."
    lines = [f"{len(rows)} request(s) left this machine {scope}:"]
    for row in rows:
        status = "ok" if row["ok"] else f"FAILED: {row['error']}"
        lines.append(f"#{row['id']} {row['sent_at']} → {row['host']} · {row['model']} · {_tokens(row)} · "
                     f"{_cost(row['cost_usd'])} · {status}")
        lines += [f"    {m['role']}: {' '.join(m['content'].split())[:200]}" for m in row["messages"]]
    return "\n".join(lines)


def audit_html(rows: list[dict[str, Any]], scope: str) -> str:
    if not rows:
        return f"<p>Nothing left this machine {html.escape(scope)}: every cell stayed local.</p>"
    head = "".join(f"<th>{c}</th>" for c in ("when", "host", "model", "messages sent", "tokens", "cost", "status"))
    body = "".join(_html_row(row) for row in rows)
    return (f"<p>{len(rows)} request(s) left this machine {html.escape(scope)}.</p>"
            f"<table class=\"hybrid-magic-audit\"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def _html_row(row: dict[str, Any]) -> str:
    messages = "".join(f"<div><b>{html.escape(m['role'])}</b>: <pre>{html.escape(m['content'])}</pre></div>"
                       for m in row["messages"])
    status = "ok" if row["ok"] else f"failed: {row['error']}"
    cells = (row["sent_at"], row["host"], row["model"])
    return ("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells)
            + f"<td><details><summary>{len(row['messages'])} message(s)</summary>{messages}</details></td>"
            + f"<td>{_tokens(row)}</td><td>{_cost(row['cost_usd'])}</td><td>{html.escape(status)}</td></tr>")


def run_audit(magics, args: list[str]) -> list[dict[str, Any]]:
    """Show (and optionally export) the requests that left the machine; returns the rows."""
    options = _parser().parse_args(args)
    since = since_timestamp(options.since) if options.since else None
    rows = audit_rows(magics.engine.ledger, since=since, everything=options.all)
    scope = _scope(since, options.all)
    display({"text/plain": audit_text(rows, scope), "text/html": audit_html(rows, scope)}, raw=True)
    if options.export:
        written = export_rows(rows, options.export)
        print(f"hybrid_magic: wrote {len(rows)} request(s) to {written}.")
    return rows
