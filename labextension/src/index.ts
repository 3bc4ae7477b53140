/**
 * JupyterLab plugin: cell badges, a status-bar total for the current
 * notebook, and the "Hybrid: handoff summary" side panel.
 * The card renderer is the separate MIME extension in mime.ts.
 */
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { IMainMenu } from '@jupyterlab/mainmenu';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { IStatusBar } from '@jupyterlab/statusbar';
import { Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';
import { statusText, statusTooltip } from './describe';
import { NotebookRunsWatcher, totalsOf } from './notebook';
import { HandoffSummaryPanel } from './panel';

export const SUMMARY_COMMAND = 'hybrid-magic:handoff-summary';

class StatusItem extends Widget {
  constructor() {
    super({ node: document.createElement('span') });
    this.addClass('jp-HybridMagic-status');
  }

  showNotebook(panel: NotebookPanel | null): void {
    const totals = panel ? totalsOf(panel.content) : null;
    this.node.textContent = totals ? statusText(totals) : '';
    this.node.title = totals ? statusTooltip(totals) : '';
  }
}

function activate(
  app: JupyterFrontEnd,
  tracker: INotebookTracker,
  statusBar: IStatusBar | null,
  palette: ICommandPalette | null,
  mainMenu: IMainMenu | null
): void {
  const status = new StatusItem();
  const summary = new HandoffSummaryPanel();
  summary.activated = panel => app.shell.activateById(panel.id);

  const showCurrent = (): void => {
    status.showNotebook(tracker.currentWidget);
    if (summary.isAttached) {
      summary.showNotebook(tracker.currentWidget);
    }
  };
  const watch = (panel: NotebookPanel): void => {
    const watcher = new NotebookRunsWatcher(panel);
    watcher.changed.connect(() => {
      if (panel === tracker.currentWidget) {
        showCurrent();
      }
    });
  };
  tracker.forEach(watch);
  tracker.widgetAdded.connect((_, panel) => watch(panel));
  const activeChanged = new Signal<StatusItem, void>(status);
  tracker.currentChanged.connect(() => {
    showCurrent();
    activeChanged.emit();
  });

  app.commands.addCommand(SUMMARY_COMMAND, {
    label: 'Hybrid: handoff summary',
    caption: 'List every hybrid_magic cell with where it ran and why',
    execute: () => {
      if (!summary.isAttached) {
        app.shell.add(summary, 'right', { rank: 900 });
      }
      app.shell.activateById(summary.id);
      summary.showNotebook(tracker.currentWidget);
    }
  });
  palette?.addItem({ command: SUMMARY_COMMAND, category: 'Hybrid Magic' });
  mainMenu?.viewMenu.addGroup([{ command: SUMMARY_COMMAND }], 100);
  statusBar?.registerStatusItem('hybrid-magic:status', {
    item: status,
    align: 'left',
    rank: 5,
    isActive: () => tracker.currentWidget !== null,
    activeStateChanged: activeChanged
  });
  showCurrent();
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'hybrid-magic:plugin',
  description: 'Cell badges, status-bar totals and a handoff summary for hybrid_magic runs.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [IStatusBar, ICommandPalette, IMainMenu],
  activate
};

export default plugin;
