"""%%compare: local and cloud run concurrently on the same prompt.

The cloud request starts (in a thread) before local generation, so neither side
waits for the other. The local side is the cascade driver with the NOTE rule:
the same messages, signals and policy as %%hybrid, noting where %%hybrid would
stop and keeping going, so the comparison shows what the router would have
decided. Both runs and the cloud request go into the ledger, even when the cell
is interrupted; a vote attaches to their run ids.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace

from .cascade import NOTE
from .cloud import CloudClient
from .engine import local_stats
from .handoff import CloudReply, stream_cloud
from .ledger import Ledger, utc_now
from .router import policy as policies
from .types import Decision, Request, RunRecord

VOTES = ("local", "cloud", "tie")
CANCEL_WAIT_S = 5.0  # how long an interrupted compare waits for the cloud thread to let go


@dataclass
class CloudSide(CloudReply):
    """What the cloud thread produced; `error` says why there is no (complete) answer."""

    sent: bool = False
    started_s: float | None = None  # seconds after the compare started
    finished_s: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)  # set: stop streaming
    done: threading.Event = field(default_factory=threading.Event, repr=False)  # set by the thread at its end


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

    @property
    def interrupted(self) -> bool:
        return self.local.interrupted or self.cloud_side.interrupted


class _Cancellable:
    """Passes cloud tokens on until the compare is interrupted, then stops the cloud stream."""

    def __init__(self, observer, cancel: threading.Event):
        self.observer, self.cancel = observer, cancel

    def cloud_token(self, event) -> None:
        if self.cancel.is_set():
            raise KeyboardInterrupt  # stream_cloud keeps the text so far and marks it interrupted
        self.observer.cloud_token(event)


def run_compare(engine, request: Request, observer) -> CompareResult:
    started, started_at = time.perf_counter(), utc_now()
    backend, load_s = engine.load(request, observer)
    cloud = engine.cloud_client(request)
    prepared = engine.prepare(request, backend, cloud)
    side, thread = _start_cloud(cloud, prepared.before, request, observer, started)
    verdict = engine.run_live_cascade(request, backend, prepared, NOTE, observer)
    local_finished_s = time.perf_counter() - started
    _wait_for_cloud(thread, side, interrupted=verdict.local.interrupted)
    stats = local_stats(backend, verdict.local, prepared.facts.prompt_tokens, load_s)
    result = CompareResult(*_records(started_at, verdict, stats, side), side, verdict.decision, local_finished_s)
    _record(engine, cloud, request, prepared.facts.prompt_tokens, observer, result)
    return result


def _start_cloud(cloud, before, request: Request, observer, started: float):
    side = CloudSide()
    blocker = policies.first_blocker(before)
    if not isinstance(cloud, CloudClient):
        side.error = "No cloud: " + (str(cloud) if cloud is not None else "private mode keeps everything local.")
        return side, None
    if blocker is not None:
        side.error = f"Not sent to the cloud ({blocker.name}): {blocker.message}"
        return side, None
    thread = threading.Thread(target=_cloud_worker, daemon=True, name="hybrid-compare-cloud",
                              args=(cloud, request, observer, side, started))
    side.sent = True
    thread.start()
    return side, thread


def _cloud_worker(cloud: CloudClient, request: Request, observer, side: CloudSide, started: float) -> None:
    side.started_s = time.perf_counter() - started
    observer.phase("cloud", cloud.model)
    try:
        stream_cloud(cloud, request.messages(), request.params, _Cancellable(observer, side.cancel), side)
    except Exception as failure:  # a bug in the thread must still reach the user
        side.error = f"The cloud side failed: {type(failure).__name__}: {failure}"
    finally:
        side.finished_s = time.perf_counter() - started
        side.done.set()


def _wait_for_cloud(thread, side: CloudSide, *, interrupted: bool) -> None:
    """Wait for the cloud thread; an interrupt (now, or during local generation) stops it, keeping its text.

    It waits on an Event, not Thread.join(): a join interrupted by Ctrl-C marks the thread stopped
    while it still runs (CPython 3.11)."""
    if thread is None:
        return
    if not interrupted:
        try:
            side.done.wait()
            return
        except KeyboardInterrupt:  # while waiting for the cloud
            pass
    side.cancel.set()
    side.done.wait(CANCEL_WAIT_S)
    if not side.done.is_set() or side.interrupted:
        side.interrupted = True
        side.error = side.error or "Interrupted before the cloud answer was complete."


def _records(started_at, verdict, stats, side: CloudSide):
    local = verdict.local
    local_decision = Decision("local", False, False, None, verdict.decision.signals, "compare")
    local_record = RunRecord("compare", local_decision, stats, None, started_at, answer=local.text,
                             local_text=local.text, tokens=local.tokens, interrupted=local.interrupted)
    if side.stats is None or side.error is not None:
        return local_record, None
    cloud_decision = replace(local_decision, route="cloud", handoff_performed=True)
    return local_record, RunRecord("compare", cloud_decision, None, side.stats, started_at, answer=side.text)


def _record(engine, cloud, request: Request, prompt_tokens: int, observer, result: CompareResult) -> None:
    """Both runs in the ledger; the cloud request (sent, even if never answered) is linked to its run."""
    side, messages = result.cloud_side, request.messages()
    request_ids = [engine.log_cloud_request(cloud, messages, side.stats, side.error)] if side.sent else []
    local_all_cloud = None
    if isinstance(cloud, CloudClient):  # the cell did go to the cloud: nothing avoided
        local_all_cloud = 0.0 if result.cloud else cloud.cost(prompt_tokens, result.local.local.completion_tokens)
    owner_ids = request_ids if result.cloud is None else []
    engine.record(result.local, messages, observer, local_all_cloud, owner_ids)
    result.run_ids.append(result.local.run_id)
    if result.cloud is not None:
        engine.record(result.cloud, messages, observer, side.stats.cost_usd, request_ids)
        result.run_ids.append(result.cloud.run_id)


def record_vote(ledger: Ledger, result: CompareResult, vote: str) -> None:
    """Which answer was better: 'local', 'cloud' or 'tie', on every run of the comparison."""
    if vote not in VOTES:
        raise ValueError(f"vote must be one of {', '.join(VOTES)}, not {vote!r}")
    for run_id in result.run_ids:
        ledger.set_vote(run_id, vote)
