"""Where JupyterLab finds the prebuilt provenance extension (labextension/)."""

from __future__ import annotations

import sys
from pathlib import Path

LABEXTENSION_NAME = "hybrid-magic"


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Used by `jupyter labextension develop`; pip installs use the wheel's shared-data."""
    return [{"src": "labextension", "dest": LABEXTENSION_NAME}]


def labextension_installed() -> bool:
    """True when JupyterLab can load the extension from this environment."""
    share = Path(sys.prefix, "share", "jupyter", "labextensions", LABEXTENSION_NAME)
    return (share / "package.json").is_file()
