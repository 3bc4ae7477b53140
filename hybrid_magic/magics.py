"""The magics: parse options into a Request, run it (engine → cascade driver), hand the record to display.

The magics own what lives across cells: the engine (loaded models, cloud clients,
ledger), the chat history and the display's `Views`. Display never calls back
into the engine, the cloud or the ledger except through callbacks given here.
"""
from __future__ import annotations

import keyword
import math
import shlex
import sys
from dataclasses import dataclass, field

from IPython.core.error import UsageError as IPythonUsageError
from IPython.core.magic import Magics, cell_magic, line_cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from .backends import BACKENDS
from .config import HybridSettings
from .errors import HybridError, UsageError
from .interpolate import encodable, interpolate
from .router.policy import reads_confidence_knob
from .types import FORMATS, GenerationParams, Request, RunRecord

LOCAL_ARGS = [
    argument("-m", "--model", default=None, help="Local model: alias, folder, .gguf file or hub id."),
    argument("--backend", default=None, choices=["auto", *BACKENDS]),
    argument("--local-url", default=None, help="--backend server: a model server on this machine (loopback)."),
    argument("--max-tokens", type=int, default=None),
    argument("--temperature", type=float, default=None),
    argument("--top-p", type=float, default=None),
    argument("--seed", type=int, default=None),
    argument("--stop", action="append", default=[], help="Stop string (repeatable)."),
    argument("--system", default=None, help="System prompt."),
    argument("--format", default="text", choices=list(FORMATS), help="How the answer is shown."),
    argument("--out", default=None, help="Store a HybridResult in this variable."),
    argument("--chat", action="store_true", help="Continue this notebook's conversation."),
    argument("--no-interpolate", action="store_true", help="Leave {name} as written."),
]
HYBRID_ARGS = [
    argument("--cloud-model", default=None),
    argument("--policy", default=None, help="router (default), cascade, always-local, always-cloud, length, random, …"),
    argument("--threshold", type=float, default=None,
             help="the confidence knob: the router's cut on its P(right); the cascade's for answer_estimate."),
    argument("--deadline", type=float, default=None, help="Seconds the local answer may take."),
    argument("--private", action="store_true", help="Nothing leaves the machine."),
    argument("--allow-sensitive", action="store_true", help="Let a prompt with detected secrets/PII go out."),
    argument("--with-draft", action="store_true", help="Send the local draft along to the cloud."),
    argument("--cloud", action="store_true", help="Hand off at once (explicit routing flag)."),
    argument("--explain", action="store_true", help="Show every signal, not only triggered ones."),
    argument("--model-handoff", action="store_true", help="Let the local model ask for a handoff itself."),
    argument("--no-model-handoff", action="store_true", help="Do not let the local model ask for a handoff."),
]


def with_arguments(arguments):
    def apply(func):
        for decorate in reversed(arguments):
            func = decorate(func)
        return magic_arguments()(func)
    return apply


@dataclass
class HybridResult:
    """What `--out VAR` stores: the answer text and the full run record."""

    text: str
    record: RunRecord
    tokens: list = field(default_factory=list)

    def __str__(self) -> str:
        return self.text

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(f"HybridResult(route={self.record.decision.route!r}, text={self.text[:60]!r})")

    def confidence_view(self):
        """The local tokens shaded by probability; hover one for its logprob and alternatives."""
        from .display.confidence import confidence_view

        return confidence_view(self.record.tokens)


@magics_class
class HybridMagics(HybridSettings, Magics):
    def __init__(self, shell=None, **kwargs):
        super().__init__(shell=shell, **kwargs)
        self.chat_history: list[dict[str, str]] = []
        self._engine = None
        from .display.session import Views

        self.views = Views()

    @property
    def engine(self):
        if self._engine is None:
            from .engine import Engine
            from .ledger import Ledger

            self._engine = Engine(self, Ledger(self.ledger_path))
        return self._engine

    # ---- cell magics ------------------------------------------------------------
    @with_arguments(LOCAL_ARGS)
    @line_cell_magic
    def local(self, line: str, cell: str | None = None):
        """Run the cell's prompt on the local model. `%local reset` clears the --chat history."""
        if cell is None:
            return self._guard(lambda: self._local_line(line))
        return self._guard(lambda: self._run_cell("local", self.local, line, cell))

    @with_arguments(LOCAL_ARGS + HYBRID_ARGS)
    @cell_magic
    def hybrid(self, line: str, cell: str):
        """Run locally first; hand off to the cloud when the signals say so, and show why."""
        return self._guard(lambda: self._run_cell("hybrid", self.hybrid, line, cell))

    @with_arguments(LOCAL_ARGS + HYBRID_ARGS)
    @cell_magic
    def compare(self, line: str, cell: str):
        """Run local and cloud side by side."""
        return self._guard(lambda: self._run_cell("compare", self.compare, line, cell))

    @line_magic("hybrid")
    def hybrid_line(self, line: str):
        """%hybrid status | history [N] | budget USD | reset | dashboard | models | audit [--since 7d]
        | calibrate --handoff-rate R"""
        from .subcommands import run_subcommand

        return self._guard(lambda: run_subcommand(self, line))

    # ---- plumbing -----------------------------------------------------------------
    def _guard(self, action):
        try:
            return action()
        except (HybridError, IPythonUsageError) as error:
            message = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
            print(f"hybrid_magic: {message}", file=sys.stderr)
            return None

    def _local_line(self, line: str) -> None:
        if line.strip() == "reset":
            self.chat_history.clear()
            print("hybrid_magic: chat history cleared.")
            return
        raise UsageError("%local as a line magic takes only `reset`; use %%local for a prompt.")

    def _run_cell(self, magic: str, func, line: str, cell: str):
        try:  # shell quoting, as in %hybrid subcommands: --system "Be brief" is `Be brief`
            args = func.parser.parse_args(shlex.split(line))
        except ValueError as error:  # an unclosed quote
            raise UsageError(f"Cannot read the options {line.strip()!r}: {error}.") from None
        if args.out is not None and not (args.out.isidentifier() and not keyword.iskeyword(args.out)):
            raise UsageError(f"--out takes a Python variable name, not {args.out!r}.")
        request = self.build_request(magic, args, cell)
        from .display.safe import for_prompt

        with for_prompt(request.prompt):  # an echoed secret from the prompt is masked in every view
            record = self._compare(request) if magic == "compare" else self._run(request)
        self.views.notify_run()
        if record.interrupted and magic != "compare":
            raise KeyboardInterrupt  # stop the rest of a "run all", as an interrupt should
        if args.chat and not record.interrupted:
            self.chat_history += [{"role": "user", "content": request.prompt},
                                  {"role": "assistant", "content": record.answer}]
        if args.out:
            self.shell.user_ns[args.out] = HybridResult(record.answer, record, record.tokens)
        return None

    def _run(self, request: Request) -> RunRecord:
        from .display.session import live_view, show_answer

        live = live_view(self.stream_interval_s)
        run = self.engine.run_local if request.magic == "local" else self.engine.run_hybrid
        record = run(request, live)
        show_answer(live, record, request, window=self.window)
        return record

    def _compare(self, request: Request) -> RunRecord:
        """Both panes stream; an interrupt leaves both partial answers marked, recorded, no traceback."""
        from .compare import record_vote, run_compare
        from .display.compare_view import finish_compare, start_compare

        vote = lambda result, choice: record_vote(self.engine.ledger, result, choice)  # noqa: E731
        view = start_compare(self.views, vote, interval_s=self.stream_interval_s, explain=request.explain,
                             window=self.window)
        result = run_compare(self.engine, request, view)
        finish_compare(view, result)
        return result.local

    def session_runs(self) -> tuple[list[dict], dict]:
        """This session's runs and totals, for the dashboard."""
        rows = self.engine.ledger.runs()
        return rows, self.engine.ledger.totals(rows)

    def build_request(self, magic: str, args, cell: str) -> Request:
        prompt = encodable(cell if args.no_interpolate else interpolate(cell, self.shell.user_ns), "cell")
        encodable(args.system or "", "--system")
        if not prompt.strip():
            raise UsageError(f"The %%{magic} cell is empty: write a prompt below the magic line.")
        params = GenerationParams(
            max_tokens=_check(args.max_tokens, self.max_tokens, "--max-tokens", lambda v: v >= 1, "at least 1"),
            temperature=_check(args.temperature, self.temperature, "--temperature",
                               lambda v: math.isfinite(v) and v >= 0, ">= 0 and finite"),
            top_p=_check(args.top_p, self.top_p, "--top-p", lambda v: 0 < v <= 1, "in (0, 1]"),
            seed=args.seed, stop=tuple(args.stop),
        )
        return Request(
            magic=magic, prompt=prompt.strip(), model=args.model or self.local_model,
            backend=args.backend or self.backend, params=params, system=args.system,
            local_url=args.local_url or self.local_url,
            history=list(self.chat_history) if args.chat else [], format=args.format,
            **(self._hybrid_fields(args) if magic != "local" else {}),
        )

    def _hybrid_fields(self, args) -> dict:
        threshold, policy = args.threshold, args.policy or self.policy
        if threshold is not None and reads_confidence_knob(policy) and not 0 <= threshold <= 1:
            raise UsageError(f"--threshold must be between 0 and 1 for the {policy} policy, not {threshold}.")
        if args.deadline is not None and not (math.isfinite(args.deadline) and args.deadline > 0):
            raise UsageError(f"--deadline must be a positive number of seconds, not {args.deadline}.")
        if args.model_handoff and args.no_model_handoff:
            raise UsageError("--model-handoff and --no-model-handoff contradict each other: give one.")
        if args.cloud_model is not None and not args.cloud_model.strip():
            raise UsageError("--cloud-model needs a model name (leave it out for HybridMagics.cloud_model).")
        return dict(
            cloud_model=args.cloud_model, policy=policy, threshold=threshold,
            deadline_s=args.deadline, private=args.private, allow_sensitive=args.allow_sensitive,
            with_draft=args.with_draft, force_cloud=args.cloud, explain=args.explain,
            model_handoff=True if args.model_handoff else False if args.no_model_handoff else None,
        )


def _check(value, fallback, flag: str, valid, expected: str):
    value = fallback if value is None else value
    if not valid(value):
        raise UsageError(f"{flag} must be {expected}, not {value}.")
    return value
