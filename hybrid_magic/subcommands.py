"""`%hybrid SUBCOMMAND`: session status, history, budget, reset, models, audit, dashboard, calibrate."""
from __future__ import annotations

import json
import math
import shlex

from IPython.display import display

from .errors import UsageError


def _status(magics, args: list[str]) -> None:
    t = magics.engine.ledger.totals()
    budget = magics.budget_usd
    lines = [
        f"runs this session: {t['runs']} · local {t['local']} · cloud {t['cloud']} · blocked/failed {t['blocked']}",
        f"cloud spend: ${t['cloud_spend_usd']:.6f}" + (f" of ${budget:.4f} budget" if budget else " (no budget set)"),
        f"spend avoided vs all-cloud: ${t['spend_avoided_usd']:.6f} (all-cloud estimate ${t['all_cloud_cost_usd']:.6f}"
        + (f"; {t['runs_with_unknown_price']} runs with unknown price)" if t["runs_with_unknown_price"] else ")"),
    ]
    print("\n".join(lines))


def _history(magics, args: list[str]) -> None:
    limit = _count(args[0]) if args else 20
    rows = magics.engine.ledger.runs(limit=limit)
    if not rows:
        print("No runs in this session yet.")
        return
    for r in reversed(rows):
        cost = "" if r["cost_usd"] is None else f" ${r['cost_usd']:.6f}"
        seconds = (r["local_seconds"] or 0) + (r["cloud_seconds"] or 0)
        print(f"#{r['id']:<4} {r['started_at']} %%{r['magic']:<7} {r['route']:<5} {r['reason']:<28} "
              f"{seconds:6.2f}s{cost}")


def _budget(magics, args: list[str]) -> None:
    if not args:
        print(f"Session cloud budget: ${magics.budget_usd:.4f} (0 = unlimited); "
              f"spent ${magics.engine.ledger.session_spend():.6f}.")
        return
    try:
        value = float(args[0].lstrip("$"))
    except ValueError:
        raise UsageError(f"%hybrid budget takes a number of USD, not {args[0]!r}.") from None
    if not math.isfinite(value):
        raise UsageError(f"%hybrid budget takes a finite number of USD, not {args[0]!r}.")
    if value < 0:
        raise UsageError("The budget must be >= 0 (0 = unlimited).")
    magics.budget_usd = value
    print(f"Session cloud budget set to ${value:.4f}.")


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise UsageError(f"%hybrid history takes a number of runs (1 or more), not {text!r}.")
    return int(text)


def _reset(magics, args: list[str]) -> None:
    magics.engine.ledger.reset_session()
    magics.chat_history.clear()
    print("New session: totals, spend and chat history start from zero (earlier runs stay in the ledger).")


def _dashboard(magics, args: list[str]) -> None:
    from .display.dashboard import show_dashboard

    show_dashboard(magics)


def _models(magics, args: list[str]) -> None:
    from .aliases_report import models_table

    display(models_table(magics.cache_dir), raw=True)


def _audit(magics, args: list[str]) -> None:
    from .audit import run_audit

    run_audit(magics, args)


def _calibrate(magics, args: list[str]) -> None:
    """%hybrid calibrate --handoff-rate R: the confidence threshold that hands off a share R of cells."""
    from .router import handoff_rate
    from .router.policy import POLICIES, takes_confidence_knob

    if len(args) != 2 or args[0] != "--handoff-rate":
        raise UsageError("%hybrid calibrate takes --handoff-rate R, a share of cells between 0 and 1 "
                         "(e.g. %hybrid calibrate --handoff-rate 0.3).")
    rate = handoff_rate.parse_rate(args[1])
    backend, model = _current_local(magics)
    rows = magics.engine.ledger.runs(session_only=False)
    where = " · ".join(filter(None, (backend, model)))
    if takes_confidence_knob(magics.policy):
        policy = POLICIES[magics.policy]
        measure = f"the {magics.policy} policy's estimate"
        cut = handoff_rate.calibrate(policy_estimates(rows, magics.policy, backend, model), rate, where,
                                     policy.reference, f"an estimate of the {magics.policy} policy")
    else:
        measure = "answer_estimate"
        cut = handoff_rate.calibrate(own_estimates(rows, backend, model), rate, where, handoff_rate.reference())
    magics.threshold = cut.threshold  # unrounded: the rate printed is the rate of this very cut
    print(f"HybridMagics.threshold = {magics.threshold:.4f}: {measure} falls below it on {cut.rate:.0%} of "
          f"{cut.data} (target {rate:.0%}).")


def _current_local(magics) -> tuple[str, str | None]:
    """The backend and model names the next cell's local run is recorded under (the ledger's local_backend and
    local_model), without loading anything; the model is None when it cannot be named without a download."""
    from .backends import backend_name
    from .errors import HybridError
    from .models import resolve

    backend = backend_name(magics.backend, magics.local_model)
    if backend == "server":
        return backend, None
    try:
        return backend, resolve(magics.local_model, magics.cache_dir, convert=False).name
    except HybridError:
        return backend, None


def _hybrid_rows(rows: list[dict], backend: str | None, model: str | None) -> list[dict]:
    """Past %%hybrid cells, only those run on `backend` and `model` when given: another model's or runtime's
    estimates spread differently, so a cut learned on them would not give the rate asked for."""
    return [row for row in rows if row["magic"] == "hybrid" and backend in (None, row.get("local_backend"))
            and model in (None, row.get("local_model"))]


def own_estimates(rows: list[dict], backend: str | None = None, model: str | None = None) -> list[float]:
    """The answer_estimate values the ledger recorded for past %%hybrid cells (those whose answer was judged)."""
    values = []
    for row in _hybrid_rows(rows, backend, model):
        found = [s for s in json.loads(row["signals_json"]) if s["name"] == "answer_estimate"]
        values += [s["value"] for s in found if s.get("available") and s.get("value") is not None]
    return values


def policy_estimates(rows: list[dict], policy: str, backend: str | None = None, model: str | None = None) -> list[float]:
    """A learned policy's estimate of a right local answer in past %%hybrid cells it judged itself, from the signals
    the ledger recorded (what it weighed then, an early handoff's included). Cells sent before the local model ran
    and firm requests (a broken --format, --cloud, ...) were not its estimate's doing: they are left out, and so are
    cells recorded before a before-signal it weighs existed (an older version's: its estimate would impute it)."""
    from .prompt import PromptFacts, before_signals
    from .router.learned_policy import firm_request
    from .router.policy import POLICIES
    from .types import Signal

    fn, values = POLICIES[policy], []
    needed = set(fn.features) & {s.name for s in before_signals(PromptFacts("", 0, 0, 0))}
    for row in _hybrid_rows(rows, backend, model):
        signals = [Signal(**s) for s in json.loads(row["signals_json"])]
        judged = row.get("policy") == policy and any(s.stage in ("during", "after") for s in signals)
        if judged and firm_request(signals) is None and needed <= {s.name for s in signals}:
            values.append(fn.p_correct(signals))
    return values


SUBCOMMANDS = {
    "status": _status, "history": _history, "budget": _budget, "reset": _reset,
    "dashboard": _dashboard, "models": _models, "audit": _audit, "calibrate": _calibrate,
}


def run_subcommand(magics, line: str) -> None:
    try:
        words = shlex.split(line)
    except ValueError as error:  # an unclosed quote
        raise UsageError(f"Cannot read {line.strip()!r}: {error}.") from None
    if not words:
        raise UsageError(f"%hybrid needs a subcommand: {', '.join(SUBCOMMANDS)}.")
    name, args = words[0], words[1:]
    if name not in SUBCOMMANDS:
        raise UsageError(f"Unknown %hybrid subcommand {name!r}: choose one of {', '.join(SUBCOMMANDS)}.")
    SUBCOMMANDS[name](magics, args)
