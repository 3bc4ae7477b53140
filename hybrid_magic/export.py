"""Executed notebook -> standalone HTML that shows outputs and saved widget state offline.

The widget renderer (@jupyter-widgets/html-manager's embed-amd.js) and require.js
come from the npm registry at install time (`python -m hybrid_magic.export
install-assets`, run by scripts/install.sh) into a gitignored folder; the HTML
inlines them, so opening the file needs no network and no CDN.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES = PACKAGE_DIR / "display" / "offline_template"
NPM_PACKAGE = PACKAGE_DIR / "display" / "static_src" / "package.json"
RENDERER = "embed-amd.js"
REQUIREJS = "require.js"
_CDN_DEFAULT = "https://cdn.jsdelivr.net/npm/"  # html-manager's fallback loader for unknown widget modules
_NO_CDN = "./offline-no-cdn/"  # only built-in widgets render offline; never reach out


class WidgetAssetsMissing(RuntimeError):
    pass


def assets_dir() -> Path:
    """HYBRID_MAGIC_WIDGET_ASSETS, else build/widget-assets in the source checkout (gitignored)."""
    return Path(os.environ.get("HYBRID_MAGIC_WIDGET_ASSETS", PACKAGE_DIR.parent / "build" / "widget-assets"))


def install_widget_assets(target: Path | None = None) -> Path:
    """npm-install html-manager + requirejs (versions in display/static_src/package.json), copy the dist files."""
    target = target or assets_dir()
    work = target / "npm"
    work.mkdir(parents=True, exist_ok=True)
    shutil.copy(NPM_PACKAGE, work / "package.json")
    subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
                   cwd=work, check=True)
    modules = work / "node_modules"
    renderer = (modules / "@jupyter-widgets" / "html-manager" / "dist" / RENDERER).read_text(encoding="utf-8")
    (target / RENDERER).write_text(renderer.replace(_CDN_DEFAULT, _NO_CDN), encoding="utf-8")
    shutil.copy(modules / "requirejs" / REQUIREJS, target / REQUIREJS)
    return target


def offline_js(directory: Path | None = None) -> dict[str, str]:
    directory = directory or assets_dir()
    paths = {"requirejs": directory / REQUIREJS, "widget_renderer": directory / RENDERER}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise WidgetAssetsMissing(f"Widget assets missing ({', '.join(missing)}): "
                                  "run `python -m hybrid_magic.export install-assets` (needs npm).")
    # "</script" inside inlined JS would end the tag early; "<\/script" means the same to JS
    return {name: p.read_text(encoding="utf-8").replace("</script", "<\\/script") for name, p in paths.items()}


def notebook_to_html(path: str | Path, *, theme: str = "light") -> str:
    """`theme`: the JupyterLab theme of the page, "light" or "dark" (the cards follow it)."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(path), as_version=4)
    exporter = HTMLExporter(template_name="hybrid_offline", extra_template_basedirs=[str(TEMPLATES)], theme=theme)
    resources = {"offline_js": offline_js()} if "widgets" in nb.metadata else {}
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    return body


def execute_notebook(path: str | Path, *, env: dict[str, str | None] | None = None, timeout_s: int = 600,
                     cwd: str | Path | None = None):
    """Run a notebook with nbclient, keeping widget state in nb.metadata.widgets. Returns (nb, seconds)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(str(path), as_version=4)
    started = time.perf_counter()
    client = NotebookClient(nb, timeout=timeout_s, kernel_name="python3", store_widget_state=True,
                            resources={"metadata": {"path": str(cwd or Path(path).parent)}})
    if env is None:
        client.execute()
    else:
        saved = dict(os.environ)  # the kernel inherits this process's environment; None removes a name
        for name, value in env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        try:
            client.execute()
        finally:
            os.environ.clear()
            os.environ.update(saved)
    return nb, time.perf_counter() - started


def main(argv: list[str]) -> None:
    if argv[:1] == ["install-assets"]:
        print(f"widget assets -> {install_widget_assets()}")
    elif len(argv) == 2:
        Path(argv[1]).write_text(notebook_to_html(argv[0]), encoding="utf-8")
    else:
        raise SystemExit("usage: python -m hybrid_magic.export install-assets | NOTEBOOK.ipynb OUT.html")


if __name__ == "__main__":
    main(sys.argv[1:])
