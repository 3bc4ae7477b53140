"""Every third-party module hybrid_magic/ imports is declared in pyproject (core or an extra).

A fresh machine installs only what pyproject declares; a module that arrives only
because another package happens to pull it in breaks there.
"""
from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "hybrid_magic"


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_distributions() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        specs += extra
    return {_normal(re.match(r"[A-Za-z0-9._-]+", spec).group(0)) for spec in specs}


def _imported_names(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant) and len(node.args) == 1):
            names.add(node.args[0].value)  # importlib.import_module("mlx_lm")
    return names


def third_party_imports() -> dict[str, str]:
    """Top-level module -> a file that imports it."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for name in _imported_names(ast.parse(path.read_text(), str(path))):
            top = name.split(".")[0]
            if top not in sys.stdlib_module_names and top != "hybrid_magic":
                found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def test_the_walk_sees_the_known_imports():
    found = third_party_imports()
    assert {"openai", "torch", "sklearn", "huggingface_hub", "traitlets"} <= set(found)
    assert "json" not in found and "hybrid_magic" not in found


def test_every_third_party_import_is_declared():
    declared = declared_distributions()
    providers = importlib.metadata.packages_distributions()
    missing = []
    for module, where in sorted(third_party_imports().items()):
        dists = providers.get(module)
        if dists is None:  # not installed here: only a same-named declaration can vouch for it
            if _normal(module) not in declared:
                missing.append(f"{module} ({where}): not installed and not declared")
            continue
        if not {_normal(d) for d in dists} & declared:
            missing.append(f"{module} ({where}): from {dists}, none declared in pyproject")
    assert not missing, "\n".join(missing)
