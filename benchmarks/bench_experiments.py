"""Batched local generation for experiments: items/s one at a time vs batches of 4, 8, 16.

Same model, same items (the 46 built-in items, topped up from the seeded dev set
to 64), same settings as
`Experiment` (greedy, max_tokens 24, 5 top alternatives). Interleaved: the
items are cut into chunks and every chunk runs under every batch size, in a
rotating order, so a machine that gets busier part-way slows all of them alike.
Batch size 1 is `backend.stream`, the path %%local uses.

Reported per backend and batch size: items/s (wall clock), speed-up over one at
a time on wall clock and on CPU seconds (the process's own CPU time, steadier
on a shared machine), and the share of answers identical to one-at-a-time.
For each differing answer it prints the first differing token and the margin
between the two most likely tokens there in the one-at-a-time run: padding
changes float rounding, which can flip a near-tie.

    nice -n 10 python benchmarks/bench_experiments.py [--items 64] [--chunk 16]
        [--sizes 1 4 8 16] [--backends transformers mlx] [--torch-threads N] [--out result.json]
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from hybrid_magic.backends import get_backend
from hybrid_magic.config import HybridSettings
from hybrid_magic.experiments.datasets import BUILTIN_FILES, builtin_mix, load_builtin
from hybrid_magic.experiments.devset import dev_set
from hybrid_magic.models import resolve
from hybrid_magic.types import GenerationParams

PARAMS = GenerationParams(max_tokens=24, temperature=0.0, top_alternatives=5)  # Experiment's settings


def benchmark_items(n: int) -> list[dict]:
    builtin = [item for name in BUILTIN_FILES for item in load_builtin(name)]
    return builtin_mix(n) if n <= len(builtin) else builtin + dev_set(n - len(builtin), seed=0)


def run_condition(backend, conversations, size: int) -> tuple[dict[int, list], float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    rows = {row.index: row.events for row in backend.generate_batch(conversations, PARAMS, batch_size=size)}
    return rows, time.perf_counter() - wall, time.process_time() - cpu


def measure(backend, items: list[dict], sizes: list[int], chunk: int, name: str) -> dict[int, dict]:
    conversations = [[{"role": "user", "content": str(item["prompt"])}] for item in items]
    results = {size: {"events": {}, "wall_s": 0.0, "cpu_s": 0.0} for size in sizes}
    for n, start in enumerate(range(0, len(items), chunk)):
        part = conversations[start:start + chunk]
        order = sizes[n % len(sizes):] + sizes[:n % len(sizes)]  # rotate who goes first
        for size in order:
            rows, wall, cpu = run_condition(backend, part, size)
            into = results[size]
            into["events"].update({start + i: events for i, events in rows.items()})
            into["wall_s"] += wall
            into["cpu_s"] += cpu
        print(f"  chunk {n + 1}: done (load {os.getloadavg()[0]:.1f}); so far:", flush=True)
        print(table(name, summarise(results)), flush=True)  # a long run that is stopped still reports
    return results


def first_difference(reference: list, other: list) -> dict | None:
    """Where two answers part, and how close the reference's top two tokens were there."""
    for position, (a, b) in enumerate(zip(reference, other)):
        if a.token_id != b.token_id:
            top = [lp for _, lp in a.top_logprobs]
            margin = top[0] - top[1] if len(top) > 1 else None
            return {"position": position, "margin_nats": margin, "one_at_a_time": a.text, "batched": b.text}
    return None if len(reference) == len(other) else {"position": min(len(reference), len(other)),
                                                      "margin_nats": None}


def summarise(results: dict[int, dict]) -> list[dict]:
    base = results[1]
    done = sorted(base["events"])
    n_items = len(done)
    text = {size: {i: "".join(e.text for e in events) for i, events in r["events"].items()}
            for size, r in results.items()}
    rows = []
    for size, r in results.items():
        same = sum(text[size][i] == text[1][i] for i in done)
        diffs = [first_difference(base["events"][i], r["events"][i]) for i in done if text[size][i] != text[1][i]]
        rows.append({"batch_size": size, "items_per_s": n_items / r["wall_s"], "wall_s": r["wall_s"],
                     "cpu_s": r["cpu_s"], "speedup_wall": base["wall_s"] / r["wall_s"],
                     "speedup_cpu": base["cpu_s"] / r["cpu_s"], "identical": same / n_items, "differences": diffs})
    return rows


def table(backend_name: str, rows: list[dict]) -> str:
    lines = [f"| {backend_name} batch | items/s | × (wall) | × (CPU s) | identical answers |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['batch_size']} | {r['items_per_s']:.2f} | {r['speedup_wall']:.2f} | "
                     f"{r['speedup_cpu']:.2f} | {r['identical']:.0%} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=64)
    parser.add_argument("--chunk", type=int, default=16)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--backends", nargs="+", default=["transformers", "mlx"])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="torch.set_num_threads (1 avoids OpenMP spinning on a crowded machine)")
    args = parser.parse_args()
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    sizes = [1] + [s for s in args.sizes if s != 1]
    items = benchmark_items(args.items)
    model = resolve("smollm2-135m", HybridSettings().cache_dir)
    report = {"items": args.items, "chunk": args.chunk, "cores": os.cpu_count(), "load_before": os.getloadavg(),
              "torch_threads": args.torch_threads}
    for name in args.backends:
        backend, _ = get_backend(name, model)
        print(f"{name}: {args.items} items, batch sizes {sizes}, chunks of {args.chunk}", flush=True)
        rows = summarise(measure(backend, items, sizes, args.chunk, name))
        print(table(name, rows))
        for r in rows:
            for d in r["differences"]:
                print(f"  batch {r['batch_size']}: differs at token {d['position']}, top-2 margin {d['margin_nats']}")
        report[name] = rows
    report["load_after"] = os.getloadavg()
    print(f"load average before {report['load_before']}, after {report['load_after']}")
    if args.out:
        args.out.write_text(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
