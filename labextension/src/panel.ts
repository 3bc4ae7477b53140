/** The "Hybrid: handoff summary" side panel: one entry per hybrid cell. */
import { NotebookPanel } from '@jupyterlab/notebook';
import { Widget } from '@lumino/widgets';
import { el } from './card';
import { describeRun } from './describe';
import { runsByCell } from './notebook';

export const SUMMARY_PANEL_ID = 'hybrid-magic-summary';

export class HandoffSummaryPanel extends Widget {
  constructor() {
    super();
    this.id = SUMMARY_PANEL_ID;
    this.title.label = 'Hybrid';
    this.title.caption = 'Hybrid: handoff summary';
    this.addClass('jp-HybridMagic-summary');
  }

  /** Redraw for `panel` (null when no notebook is current). */
  showNotebook(panel: NotebookPanel | null): void {
    this._panel = panel;
    const heading = el('h2', 'jp-HybridMagic-summaryTitle', 'Hybrid: handoff summary');
    const list = el('ol', 'jp-HybridMagic-summaryList');
    const runs = panel ? runsByCell(panel.content) : [];
    for (const { index, bundles } of runs) {
      list.append(this._entry(index, bundles[bundles.length - 1]));
    }
    const empty = panel
      ? 'No hybrid_magic runs in this notebook.'
      : 'Open a notebook to see its hybrid_magic runs.';
    this.node.replaceChildren(heading, runs.length ? list : el('p', 'jp-HybridMagic-muted', empty));
  }

  private _entry(index: number, bundle: Parameters<typeof describeRun>[0]): HTMLElement {
    const { outcome, label, reason } = describeRun(bundle);
    const item = el('li', 'jp-HybridMagic-summaryItem');
    const button = el('button', 'jp-HybridMagic-summaryButton');
    button.dataset.cellIndex = String(index);
    button.dataset.outcome = outcome;
    button.append(
      el('span', 'jp-HybridMagic-summaryCell', `cell ${index + 1}`),
      el('span', `jp-HybridMagic-route jp-HybridMagic-route-${outcome}`, label),
      el('span', 'jp-HybridMagic-reason', reason || `%%${bundle.magic}`)
    );
    const message = bundle.signals.find(signal => signal.triggered)?.message;
    if (message) {
      button.append(el('span', 'jp-HybridMagic-signalMessage', message));
    }
    button.addEventListener('click', () => this._goTo(index));
    item.append(button);
    return item;
  }

  private _goTo(index: number): void {
    const panel = this._panel;
    const cell = panel?.content.widgets[index];
    if (!panel || !cell) {
      return;
    }
    panel.content.activeCellIndex = index;
    void panel.content.scrollToCell(cell, 'center');
    this.activated?.(panel);
  }

  /** Set by the plugin: brings the notebook tab to the front. */
  activated: ((panel: NotebookPanel) => void) | null = null;
  private _panel: NotebookPanel | null = null;
}
