"""%%compare at the engine level: local and cloud run concurrently on the same prompt.

The cloud request starts (in a thread) before local generation, so neither side
waits for the other. Alongside, the local run is judged exactly as %%hybrid
would judge it (the same before/during/after signals and the same policy), so
the comparison shows what the router would have decided. Both runs go into the
ledger, and a vote attaches to their run ids.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace

from .cloud import CloudClient
from .handoff import Cascade, stream_cloud
from .ledger import Ledger, utc_now
from .router import policy as policies
from .router import signals as sig
from .types import CloudStats, Decision, Request, RunRecord, Signal

VOTES = ("local", "cloud", "tie")


@dataclass
class CloudSide:
    """What the cloud thread produced; `error` says why there is no (complete) answer."""

    text: str = ""
    stats: CloudStats | None = None
    error: str | None = None
    sent: bool = False
    started_s: float | None = None  # seconds after the compare started
    finished_s: float | None = None


@dataclass
class CompareResult:
    local: RunRecord
    cloud: RunRecord | None  # None when nothing was sent or the call failed
    cloud_side: CloudSide
    would: Decision  # what %%hybrid would have decided for this prompt
    local_finished_s: float = 0.0  # seconds after the compare started
    run_ids: list[int] = field(default_factory=list)

    @property
    def cloud_error(self) -> str | None:
        return self.cloud_side.error


@dataclass
class _WouldStop:
    """The first during-signal on which %%hybrid would have stopped and handed off."""

    signals: list[Signal] | None = None


def run_compare(engine, request: Request, observer) -> CompareResult:
    cascade = Cascade(engine, request, observer)
    started, started_at = time.perf_counter(), utc_now()
    backend, load_s = engine.load(request, observer)
    messages = request.messages()
    cloud = cascade._cloud_client()
    cascade.prompt_tokens = backend.count_prompt_tokens(messages)
    before = cascade._before_signals(backend, messages, cascade.prompt_tokens, cloud)
    side, thread = _start_cloud(cascade, cloud, before, messages, observer, started)
    local, would_stop = _generate_local(engine, cascade, backend, messages, before, observer)
    local.stats.load_s = load_s
    local_finished_s = time.perf_counter() - started
    if thread is not None and not local.interrupted:
        thread.join()
    would = _would_decide(cascade, backend, messages, before, local, would_stop)
    result = CompareResult(*_records(request, started_at, would, local, side), side, would, local_finished_s)
    _record(engine, cascade, cloud, backend, messages, observer, result)
    return result


def _start_cloud(cascade, cloud, before, messages, observer, started):
    side = CloudSide()
    blocker = policies.first_blocker(before)
    if not isinstance(cloud, CloudClient):
        side.error = "No cloud: " + (str(cloud) if cloud is not None else "private mode keeps everything local.")
        return side, None
    if blocker is not None:
        side.error = f"Not sent to the cloud ({blocker.name}): {blocker.message}"
        return side, None
    thread = threading.Thread(target=_cloud_worker, daemon=True, name="hybrid-compare-cloud",
                              args=(cloud, messages, cascade.request.params, observer, side, started))
    side.sent = True
    thread.start()
    return side, thread


def _cloud_worker(cloud: CloudClient, messages, params, observer, side: CloudSide, started: float) -> None:
    side.started_s = time.perf_counter() - started
    observer.phase("cloud", cloud.model)
    try:
        side.text, side.stats, side.error, _ = stream_cloud(cloud, messages, params, observer)
    except Exception as failure:  # a bug in the thread must still reach the user
        side.error = f"The cloud side failed: {type(failure).__name__}: {failure}"
    side.finished_s = time.perf_counter() - started


def _generate_local(engine, cascade, backend, messages, before, observer):
    params, _ = engine.fit_params(backend, messages, cascade.request.params)
    monitor = sig.DuringMonitor(cascade.th, params.max_tokens)
    would_stop = _WouldStop()

    def note_stop(fired: Signal) -> bool:
        if would_stop.signals is None and cascade.hands_off_on(before, fired):
            would_stop.signals = monitor.signals()  # %%hybrid would stop here; compare keeps going
        return False

    return engine.generate_local(backend, messages, params, observer, monitor, note_stop), would_stop


def _would_decide(cascade, backend, messages, before, local, would_stop: _WouldStop) -> Decision:
    first = cascade.decide(before)
    if first.route == "cloud":
        return first
    if would_stop.signals is not None:
        return cascade.decide(before + would_stop.signals)
    return cascade.decide(before + local.during + cascade._after_signals(backend, messages, local))


def _records(request, started_at, would: Decision, local, side: CloudSide):
    local_decision = Decision("local", False, False, None, would.signals, "compare")
    local_record = RunRecord("compare", local_decision, local.stats, None, started_at, answer=local.text,
                             local_text=local.text, tokens=local.tokens, interrupted=local.interrupted)
    if side.stats is None or side.error is not None:
        return local_record, None
    cloud_decision = replace(local_decision, route="cloud", handoff_performed=True)
    return local_record, RunRecord("compare", cloud_decision, None, side.stats, started_at, answer=side.text)


def _record(engine, cascade, cloud, backend, messages, observer, result: CompareResult) -> None:
    """Both runs in the ledger; the cloud request is linked to the run it produced."""
    side = result.cloud_side
    if side.sent and side.finished_s is not None:
        cascade._log_request(cloud, messages, side.stats, side.error)
    local_all_cloud = None
    if isinstance(cloud, CloudClient):  # the cell did go to the cloud: nothing avoided
        local_all_cloud = 0.0 if result.cloud else cloud.cost(
            cascade.prompt_tokens, result.local.local.completion_tokens)
    engine._finish(result.local, messages, observer, local_all_cloud)
    result.run_ids.append(result.local.run_id)
    if result.cloud is not None:
        engine._finish(result.cloud, messages, observer, side.stats.cost_usd)
        result.run_ids.append(result.cloud.run_id)
    if cascade.cloud_request_ids:
        owner = result.cloud.run_id if result.cloud else result.local.run_id
        engine.ledger.link_cloud_requests(owner, cascade.cloud_request_ids)


def record_vote(ledger: Ledger, result: CompareResult, vote: str) -> None:
    """Which answer was better: 'local', 'cloud' or 'tie', on every run of the comparison."""
    if vote not in VOTES:
        raise ValueError(f"vote must be one of {', '.join(VOTES)}, not {vote!r}")
    for run_id in result.run_ids:
        ledger.set_vote(run_id, vote)
