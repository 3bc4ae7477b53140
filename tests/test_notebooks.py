"""Both demo notebooks executed by nbclient on a real kernel, real model and a real mlx_lm.server cloud;
their provenance bundles, saved widget state and offline HTML export."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ARTIFACTS, SHARED_CACHE

from hybrid_magic.display.mime import MIME_TYPE
from hybrid_magic.export import execute_notebook, notebook_to_html
from hybrid_magic.types import DEFAULT_POLICY

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
CDNS = ("cdn.jsdelivr", "unpkg", "cdnjs")
MAX_SECONDS = 180


def kernel_env(cloud_server: str, home: Path) -> dict:
    return {"OPENAI_BASE_URL": cloud_server, "HYBRID_MAGIC_CLOUD_MODEL": "default_model",
            "HYBRID_MAGIC_HOME": str(home), "HYBRID_MAGIC_CACHE_DIR": SHARED_CACHE,
            "HF_HUB_OFFLINE": "1", "OPENAI_API_KEY": None}


def run_notebook(name: str, cloud_server: str, tmp_path_factory):
    nb, seconds = execute_notebook(NOTEBOOKS / name, env=kernel_env(cloud_server, tmp_path_factory.mktemp("home")))
    assert seconds < MAX_SECONDS, f"{name} took {seconds:.0f}s: {cell_seconds(nb)}"
    return nb


def cell_seconds(nb) -> list[tuple[str, float]]:
    from datetime import datetime

    def at(cell, key):
        return datetime.fromisoformat(cell.metadata["execution"][key].replace("Z", "+00:00"))

    return [(c.source[:30], round((at(c, "shell.execute_reply") - at(c, "iopub.execute_input")).total_seconds(), 1))
            for c in nb.cells if c.cell_type == "code" and "execution" in c.metadata]


@pytest.fixture(scope="module")
def quickstart(cloud_server, tmp_path_factory):
    return run_notebook("quickstart.ipynb", cloud_server, tmp_path_factory)


@pytest.fixture(scope="module")
def compare_nb(cloud_server, tmp_path_factory):
    return run_notebook("compare.ipynb", cloud_server, tmp_path_factory)


def cell_outputs(nb, source_start: str) -> list:
    [cell] = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith(source_start)]
    errors = [o for o in cell.outputs if o.output_type == "error"]
    assert not errors, errors
    return cell.outputs


def provenance(nb, source_start: str) -> tuple[dict, dict]:
    [out] = [o for o in cell_outputs(nb, source_start) if MIME_TYPE in o.get("data", {})]
    return out.data[MIME_TYPE], out.data


def widget_state(nb) -> dict:
    return nb.metadata["widgets"][WIDGET_STATE]["state"]


def model_text(state: dict, model_id: str) -> str:
    """All HTML values under a widget model, children included."""
    model = state[model_id]["state"]
    text = model.get("value", "") if isinstance(model.get("value"), str) else ""
    for child in model.get("children", []):
        text += model_text(state, child.removeprefix("IPY_MODEL_"))
    return text


def test_quickstart_routes_and_cards(quickstart):
    assert all(not any(o.output_type == "error" for o in c.get("outputs", [])) for c in quickstart.cells)
    easy, _ = provenance(quickstart, "%%hybrid --max-tokens 12 --explain")
    assert easy["route"] == "local" and easy["handoff"]["performed"] is False
    early, _ = provenance(quickstart, "%%hybrid --max-tokens 24 --threshold 0.9")
    assert early["route"] == "cloud" and early["handoff"]["stage"] == "during"
    assert early["local"]["stopped_early"] is True and early["cloud"]["model"] == "default_model"
    _, early_saved = provenance(quickstart, "%%hybrid --max-tokens 24 --threshold 0.9")
    watched = early["timeline"]["watched"]  # the default router decided: its estimates against its cut, the knob
    assert (watched["signal"], watched["threshold"]) == (DEFAULT_POLICY, 0.9) and watched["series"][-1] < 0.9
    assert early["timeline"]["stop"]["reason"] == "early_handoff"
    assert "<svg" in early_saved["text/html"] and "hm-tl-threshold" in early_saved["text/html"]
    blocked, data = provenance(quickstart, "%%hybrid --max-tokens 16 --threshold 0.9\nMy key")
    assert blocked["route"] == "local" and blocked["handoff"]["blocked_by"] == "privacy"
    assert "sk-proj" not in json.dumps(blocked)
    state = widget_state(quickstart)
    card = data[WIDGET_VIEW]["model_id"]
    assert "hybrid-magic-card" in state[card]["state"]["_dom_classes"]
    assert "handoff blocked" in model_text(state, card) and "privacy" in model_text(state, card)
    _, early_data = provenance(quickstart, "%%hybrid --max-tokens 24 --threshold 0.9")
    early_text = model_text(state, early_data[WIDGET_VIEW]["model_id"])
    assert "low_confidence" in early_text and "local draft" in json.dumps(state) and "hm-token" in early_text


def test_quickstart_confidence_view_and_live_dashboard(quickstart):
    state = widget_state(quickstart)
    [view] = [o for o in cell_outputs(quickstart, "fact.confidence_view()") if WIDGET_VIEW in o.get("data", {})]
    assert "class='hm-token'" in state[view.data[WIDGET_VIEW]["model_id"]]["state"]["value"]
    [board] = [o for o in cell_outputs(quickstart, "%hybrid dashboard") if WIDGET_VIEW in o.get("data", {})]
    text = model_text(state, board.data[WIDGET_VIEW]["model_id"])
    hybrid_cells = sum(1 for c in quickstart.cells if c.source.startswith(("%%hybrid", "%%local")))
    assert text.count("<tr>") == hybrid_cells + 1, "the dashboard should list every run made after it"
    assert "spend avoided vs all-cloud" in text and "blocked by privacy" in text


def test_compare_notebook_panes_votes_and_bundles(compare_nb):
    state = widget_state(compare_nb)
    bundle, data = provenance(compare_nb, "%%compare --max-tokens 12\nWhat is the capital")
    assert bundle["magic"] == "compare" and bundle["compare"]["cloud_ok"] is True
    view = model_text(state, data[WIDGET_VIEW]["model_id"])
    assert "vote recorded: tie" in view and "%%hybrid would have decided" in view
    second, _ = provenance(compare_nb, "%%compare --max-tokens 12 --threshold 0.9")
    assert second["route"] == "cloud" and second["handoff"]["stage"] == "after", "the finished answer estimates < 0.9"
    votes = cell_outputs(compare_nb, "ledger = ")[0].data["text/plain"]
    assert votes.count("'tie'") == 2 and votes.count("'cloud')") == 2 and votes.count("'local')") == 2


@pytest.mark.parametrize("name", ["quickstart", "compare"])
def test_offline_html_export_embeds_widget_state(name, quickstart, compare_nb, tmp_path):
    nb = {"quickstart": quickstart, "compare": compare_nb}[name]
    import nbformat

    executed = tmp_path / f"{name}.ipynb"
    nbformat.write(nb, executed)
    page = notebook_to_html(executed)
    assert f'<script type="{WIDGET_STATE}">' in page and "hybrid-magic-card" in page or name == "compare"
    assert WIDGET_VIEW in page and "require.config" in page or "requirejs" in page
    assert not [cdn for cdn in CDNS if cdn in page], "the export must work offline: no CDN URLs"
    out = ARTIFACTS / "widgets"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.html").write_text(page, encoding="utf-8")
