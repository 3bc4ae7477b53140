"""Executed notebook -> standalone HTML that shows outputs (and saved widget state) offline."""
from __future__ import annotations

from pathlib import Path


def notebook_to_html(path: str | Path) -> str:
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(path), as_version=4)
    body, _ = HTMLExporter(template_name="classic").from_notebook_node(nb)
    return body
