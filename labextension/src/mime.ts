/**
 * The MIME renderer for application/vnd.hybrid-magic.run+json. Marked safe:
 * it only writes text nodes, so saved (untrusted) notebooks render too.
 */
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';
import { PROVENANCE_MIME, parseRunBundle } from './provenance';
import { renderCard, renderProblem } from './card';

export class RunCard extends Widget implements IRenderMime.IRenderer {
  constructor() {
    super();
    this.addClass('jp-HybridMagic-output');
  }

  renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const parsed = parseRunBundle(model.data[PROVENANCE_MIME]);
    const view = parsed.ok ? renderCard(parsed.bundle) : renderProblem(parsed.error);
    this.node.replaceChildren(view);
    return Promise.resolve();
  }
}

export const rendererFactory: IRenderMime.IRendererFactory = {
  safe: true,
  mimeTypes: [PROVENANCE_MIME],
  createRenderer: () => new RunCard()
};

const extension: IRenderMime.IExtension = {
  id: 'hybrid-magic:provenance-renderer',
  // After the widget view (rank 0), before the text/html card that
  // hybrid_magic adds for other front ends (50) and text/plain (120).
  rank: 40,
  rendererFactory,
  dataType: 'json'
};

export default extension;
