"""Early handoff vs a full cascade, and the router's cost per local token.

On prompts that end up handed off, measures the time from cell start to the
first cloud token (a) with early handoff, (b) with a full cascade that first
generates the whole local answer and then judges it — same model, same
stand-in cloud (a real mlx_lm.server on 127.0.0.1), interleaved, one run.
Then times DuringMonitor.observe per token against the local token time.

    python benchmarks/bench_handoff.py [--max-tokens 128] [--runs 3] [--early-margin 0]
--early-margin sets HybridMagics.early_margin (default: the router's own, 1.0 log-odds under the knob).
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from hybrid_magic.config import HybridSettings
from hybrid_magic.cascade import SilentObserver
from hybrid_magic.engine import Engine
from hybrid_magic.ledger import Ledger
from hybrid_magic.models import resolve
from hybrid_magic.router.signals import DuringMonitor, Thresholds
from hybrid_magic.standin import STAND_IN_MODEL, stand_in_cloud
from hybrid_magic.types import GenerationParams, Request

# Open-ended prompts the small model answers at length and unsurely: where a full
# cascade pays for the whole local answer before it can judge it.
PROMPTS = [
    "Write a detailed 300-word essay on the economic history of the Hanseatic League.",
    "Explain, step by step and at length, how to prove that there are infinitely many primes of the form 4k+3.",
    "Write a long story about a lighthouse keeper on the moon, with dialogue.",
]


class FirstCloudToken(SilentObserver):
    def __init__(self):
        self.started = time.perf_counter()
        self.first_cloud_s = None

    def cloud_token(self, event) -> None:
        if self.first_cloud_s is None and event.text:
            self.first_cloud_s = time.perf_counter() - self.started


def time_to_cloud(engine: Engine, prompt: str, max_tokens: int, threshold: float, force_cloud: bool = False):
    request = Request(magic="hybrid", prompt=prompt, model="smollm2-135m", backend=engine.settings.backend,
                      params=GenerationParams(max_tokens=max_tokens), threshold=threshold, force_cloud=force_cloud)
    observer = FirstCloudToken()
    record = engine.run_hybrid(request, observer)
    return observer.first_cloud_s, record


def router_overhead(tokens, max_tokens: int) -> float:
    """Seconds per token spent in DuringMonitor.observe over a recorded stream."""
    monitor = DuringMonitor(Thresholds(), max_tokens)
    started = time.perf_counter()
    for repeat in range(20):
        monitor = DuringMonitor(Thresholds(), max_tokens)
        for index, event in enumerate(tokens):
            monitor.observe(event, 0.07 * (index + 1))
    return (time.perf_counter() - started) / (20 * len(tokens))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--runs", type=int, default=1, help="rounds over the prompts")
    parser.add_argument("--threshold", type=float, default=0.6)
    parser.add_argument("--backend", default="transformers")
    parser.add_argument("--early-margin", type=float, default=None, help="HybridMagics.early_margin")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench_handoff_"))
    settings = HybridSettings(backend=args.backend, cloud_model=STAND_IN_MODEL, early_margin=args.early_margin)
    model_dir = resolve("smollm2-135m", settings.cache_dir).path
    with stand_in_cloud(model_dir, workdir / "cloud.log") as base_url:
        settings.cloud_base_url = base_url
        early = Engine(settings, Ledger(workdir / "early.sqlite"))
        full_settings = HybridSettings(backend=args.backend, cloud_model=STAND_IN_MODEL,
                                       cloud_base_url=base_url, early_handoff=False)
        full = Engine(full_settings, Ledger(workdir / "full.sqlite"))
        time_to_cloud(early, "Hi", 4, 0.0)  # warm both the local model and the server
        results = {"early": [], "full": []}
        token_times, recorded = [], []
        for _ in range(args.runs):
            for prompt in PROMPTS:
                # the stand-in server caches a prompt it has seen: send it once first, or the pair's first arm
                # alone pays the server's cold prefill
                time_to_cloud(full, prompt, 4, args.threshold, force_cloud=True)
                for name, engine in (("early", early), ("full", full)):  # interleaved A/B
                    seconds, record = time_to_cloud(engine, prompt, args.max_tokens, args.threshold)
                    if record.decision.route != "cloud" or seconds is None:
                        print(f"  {name}: not handed off ({record.decision.blocked_by}); skipped")
                        continue
                    results[name].append(seconds)
                    print(f"  {name:5} {seconds:6.2f}s to first cloud token "
                          f"(local tokens {record.local.completion_tokens}, stage {record.decision.stage})")
                    if name == "full" and record.local.tokens_per_s:
                        token_times.append(1.0 / record.local.tokens_per_s)
                        recorded = record.tokens
    early_s, full_s = statistics.median(results["early"]), statistics.median(results["full"])
    per_token = router_overhead(recorded, args.max_tokens)
    token_s = statistics.median(token_times)
    print(f"\nmax_tokens={args.max_tokens}, backend={args.backend}, threshold={args.threshold}, "
          f"early_margin={args.early_margin}")
    print(f"median time to first cloud token: early {early_s:.2f}s, full cascade {full_s:.2f}s, "
          f"ratio full/early {full_s / early_s:.2f}x (target >= 2x)")
    print(f"router: {per_token * 1e6:.1f} us per token vs {token_s * 1e3:.1f} ms per local token "
          f"= {100 * per_token / token_s:.3f}% (target <= 2%)")


if __name__ == "__main__":
    main()
