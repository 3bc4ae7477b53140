"""Build function for hatch-jupyter-builder (see pyproject.toml).

Builds the prebuilt JupyterLab extension with npm into
hybrid_magic/labextension/. Without node/npm, or when the npm build fails,
the Python package still installs, without the extension, and says so;
set HYBRID_MAGIC_REQUIRE_LABEXTENSION=1 (CI) to make either case an error.
A build is reused only when its completeness marker, written last by
scripts/build-labextension.mjs, is newer than every source file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUTPUT = HERE.parent / "hybrid_magic" / "labextension"
MARKER = OUTPUT / "build-complete.json"
SOURCES = ("src", "style", "scripts", "package.json", "package-lock.json", "tsconfig.json",
           "../hybrid_magic/display/card.css")  # the card stylesheet style/index.js imports


def _newest_source_mtime() -> float:
    newest = 0.0
    for name in SOURCES:
        path = HERE / name
        files = path.rglob("*") if path.is_dir() else [path]
        newest = max([newest, *(f.stat().st_mtime for f in files if f.is_file())])
    return newest


def _is_current() -> bool:
    return MARKER.is_file() and MARKER.stat().st_mtime >= _newest_source_mtime()


def _give_up(reason: str) -> None:
    message = (
        f"hybrid_magic: JupyterLab extension NOT built ({reason}). The Python package "
        "works, but JupyterLab will show saved runs as plain text. Install Node.js >= 18 "
        "with npm and reinstall to get the provenance view."
    )
    if os.environ.get("HYBRID_MAGIC_REQUIRE_LABEXTENSION") == "1":
        raise RuntimeError(message)
    print(f"WARNING: {message}", file=sys.stderr)
    warnings.warn(message, stacklevel=2)


def _npm(*args: str) -> None:
    subprocess.run([shutil.which("npm") or "npm", *args], cwd=HERE, check=True)


def build_labextension(target_name: str, version: str, **_: str) -> None:
    """Entry point called by hatch-jupyter-builder for the wheel and sdist targets."""
    if _is_current():
        print("hybrid_magic: JupyterLab extension is up to date", file=sys.stderr)
        return
    if shutil.which("node") is None or shutil.which("npm") is None:
        _give_up("node and npm were not found on PATH")
        return
    try:
        if not (HERE / "node_modules").is_dir():
            _npm("ci", "--no-audit", "--no-fund")
        _npm("run", "build:prod")
    except (OSError, subprocess.CalledProcessError) as error:
        shutil.rmtree(OUTPUT, ignore_errors=True)  # never leave a half-built extension
        _give_up(f"npm failed: {error}")
