"""Where JupyterLab finds the prebuilt provenance extension (labextension/), and whether it will.

`%load_ext hybrid_magic` in a kernel that a Jupyter server started says in one line when that
server's JupyterLab will not load the extension (not installed in the Jupyter paths, or disabled),
since then saved runs show as plain text and nothing else says why.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

LABEXTENSION_NAME = "hybrid-magic"
NOT_INSTALLED = ("hybrid_magic: the JupyterLab extension is not installed, so JupyterLab shows runs without "
                 "their cards; reinstall hybrid_magic with Node.js >= 18 on PATH (check: jupyter labextension list).")
DISABLED = ("hybrid_magic: the JupyterLab extension is disabled; run `jupyter labextension enable hybrid-magic` "
            "and reload JupyterLab.")


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Used by `jupyter labextension develop`; pip installs use the wheel's shared-data."""
    return [{"src": "labextension", "dest": LABEXTENSION_NAME}]


def labextension_installed() -> bool:
    """True when JupyterLab finds the built extension in one of the Jupyter data paths."""
    from jupyter_core.paths import jupyter_path

    return any(Path(d, LABEXTENSION_NAME, "package.json").is_file() for d in jupyter_path("labextensions"))


def labextension_disabled() -> bool:
    """True when a labconfig/page_config.json in the Jupyter config paths disables it."""
    from jupyter_core.paths import jupyter_config_path

    for directory in jupyter_config_path():
        try:
            config = json.loads(Path(directory, "labconfig", "page_config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(config, dict) and (config.get("disabledExtensions") or {}).get(LABEXTENSION_NAME) is True:
            return True
    return False


def lab_extension_problem(env: Mapping[str, str] = os.environ) -> str | None:
    """The one line to print, or None; only in a kernel a Jupyter server started (it sets JPY_SESSION_NAME)."""
    if not env.get("JPY_SESSION_NAME"):
        return None
    if not labextension_installed():
        return NOT_INSTALLED
    return DISABLED if labextension_disabled() else None
