"""Execute the demo notebooks headless and offline; write executed copies and HTML.

Without OPENAI_API_KEY a real `mlx_lm.server` with the embedded model is started
on 127.0.0.1 as a clearly labelled stand-in cloud, and stopped afterwards.
Usage: python scripts/main_job.py [--out out] [notebooks/quickstart.ipynb ...]
"""
from __future__ import annotations

import argparse
import os
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
@contextmanager
def cloud_env(out_dir: Path):
    """Env vars for the cloud: the user's own when OPENAI_API_KEY is set, else a stand-in."""
    if os.environ.get("OPENAI_API_KEY"):
        print("Using the cloud configured by OPENAI_API_KEY / OPENAI_BASE_URL.")
        yield {}
        return
    from hybrid_magic.config import HybridSettings
    from hybrid_magic.models import resolve
    from hybrid_magic.standin import STAND_IN_MODEL, stand_in_cloud

    model_dir = resolve("smollm2-135m", HybridSettings().cache_dir).path
    with stand_in_cloud(model_dir, out_dir / "stand_in_cloud.log") as base_url:
        print(f"No OPENAI_API_KEY: started a STAND-IN cloud (mlx_lm.server, embedded SmolLM2) at {base_url}")
        yield {"OPENAI_BASE_URL": base_url, "HYBRID_MAGIC_CLOUD_MODEL": STAND_IN_MODEL,
               "HYBRID_MAGIC_STAND_IN_CLOUD": "1"}
    print("Stand-in cloud stopped.")


def execute(notebook: Path, out_dir: Path, timeout_s: int) -> Path:
    import nbformat

    from hybrid_magic.export import execute_notebook

    nb, seconds = execute_notebook(notebook, timeout_s=timeout_s)  # keeps widget state for the HTML
    executed = out_dir / notebook.name
    nbformat.write(nb, executed)
    print(f"executed {notebook.name} in {seconds:.0f}s -> {executed}")
    return executed


def export_html(executed: Path) -> Path:
    from hybrid_magic.export import notebook_to_html

    target = executed.with_suffix(".html")
    target.write_text(notebook_to_html(executed), encoding="utf-8")
    print(f"HTML -> {target}")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("notebooks", nargs="*",
                        default=[str(ROOT / "notebooks" / name) for name in ("quickstart.ipynb", "compare.ipynb")])
    parser.add_argument("--out", default=str(ROOT / "out"))
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with cloud_env(out_dir) as env:
        os.environ.update(env)
        for notebook in args.notebooks:
            export_html(execute(Path(notebook).resolve(), out_dir, args.timeout))


if __name__ == "__main__":
    main()
