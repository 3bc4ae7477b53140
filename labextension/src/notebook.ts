/**
 * Reads runs out of a live notebook and keeps the cell badges current.
 * The badge text itself comes from describe.ts (pure, unit-tested).
 */
import { Cell, ICodeCellModel } from '@jupyterlab/cells';
import { Notebook, NotebookPanel } from '@jupyterlab/notebook';
import { ISignal, Signal } from '@lumino/signaling';
import { OutputLike, RunBundle, bundlesInOutputs } from './provenance';
import { RunTotals, addRun, badgeText, describeRun, emptyTotals } from './describe';

export interface CellRuns {
  index: number;
  cell: Cell;
  bundles: RunBundle[];
}

function outputsOf(cell: Cell): OutputLike[] {
  if (cell.model.type !== 'code') {
    return [];
  }
  return (cell.model as ICodeCellModel).outputs.toJSON() as OutputLike[];
}

/** The cells of a notebook that hold at least one run, in order. */
export function runsByCell(notebook: Notebook): CellRuns[] {
  const found: CellRuns[] = [];
  notebook.widgets.forEach((cell, index) => {
    const bundles = bundlesInOutputs(outputsOf(cell));
    if (bundles.length > 0) {
      found.push({ index, cell, bundles });
    }
  });
  return found;
}

export function totalsOf(notebook: Notebook): RunTotals {
  let totals = emptyTotals();
  for (const { bundles } of runsByCell(notebook)) {
    totals = bundles.reduce(addRun, totals);
  }
  return totals;
}

const BADGE_CLASS = 'jp-HybridMagic-cellBadge';

function badgeHost(cell: Cell): HTMLElement | null {
  return cell.node.querySelector(':scope > .jp-CellHeader');
}

/** Put (or remove) the badge for the last run of a cell. */
function setBadge(cell: Cell, bundle: RunBundle | undefined): boolean {
  const host = badgeHost(cell);
  if (host === null) {
    return false;
  }
  let badge = host.querySelector<HTMLElement>(`.${BADGE_CLASS}`);
  if (bundle === undefined) {
    badge?.remove();
    return true;
  }
  if (badge === null) {
    badge = document.createElement('span');
    badge.className = BADGE_CLASS;
    host.append(badge);
  }
  badge.dataset.outcome = describeRun(bundle).outcome;
  badge.textContent = badgeText(bundle);
  badge.title = bundle.signals
    .filter(signal => signal.triggered)
    .map(signal => signal.message)
    .join('\n');
  return true;
}

/**
 * Watches one notebook panel: refreshes its badges and emits `changed`
 * (debounced) whenever its outputs change.
 */
export class NotebookRunsWatcher {
  constructor(readonly panel: NotebookPanel) {
    const notebook = panel.content;
    notebook.modelChanged.connect(this._bindModel, this);
    this._bindModel();
    panel.disposed.connect(() => Signal.clearData(this));
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  schedule(): void {
    if (this._timer !== undefined) {
      return;
    }
    this._timer = setTimeout(() => {
      this._timer = undefined;
      if (!this.panel.isDisposed) {
        this._refresh();
      }
    }, 50);
  }

  private _bindModel(): void {
    const model = this.panel.content.model;
    if (model && model !== this._model) {
      this._model?.contentChanged.disconnect(this.schedule, this);
      model.contentChanged.connect(this.schedule, this);
      this._model = model;
    }
    this.schedule();
  }

  private _refresh(): void {
    const withRuns = new Map(runsByCell(this.panel.content).map(r => [r.cell, r]));
    for (const cell of this.panel.content.widgets) {
      const last = withRuns.get(cell)?.bundles.slice(-1)[0];
      if (!setBadge(cell, last) && !this._waiting.has(cell)) {
        // Cells render lazily; badge this one once its header exists.
        this._waiting.add(cell);
        void cell.ready.then(() => this.schedule());
      }
    }
    this._changed.emit();
  }

  private _model: Notebook['model'] = null;
  private _timer: ReturnType<typeof setTimeout> | undefined;
  private _waiting = new WeakSet<Cell>();
  private _changed = new Signal<this, void>(this);
}
