/** Bundles shaped like the ones hybrid_magic writes: version 1 (no handoff.reason) and version 2. */
import { PROVENANCE_MIME } from '../src/provenance';

export const LOCAL_RUN = {
  version: 1,
  magic: 'local',
  route: 'local',
  handoff: { requested: false, performed: false, blocked_by: null, stage: null },
  signals: [],
  local: {
    backend: 'mlx', model: 'smollm2-135m', prompt_tokens: 21, completion_tokens: 8,
    ttft_s: 0.12, tokens_per_s: 11.4, seconds: 0.82, stopped_early: false
  },
  cloud: null,
  started_at: '2026-01-01T10:00:00Z'
};

export const CLOUD_RUN = {
  version: 1,
  magic: 'hybrid',
  route: 'cloud',
  handoff: { requested: true, performed: true, blocked_by: null, stage: 'during' },
  signals: [
    { name: 'prompt_length', stage: 'before', value: 14, threshold: 2048, triggered: false, message: 'The prompt is short.' },
    { name: 'low_confidence', stage: 'during', value: 0.31, threshold: 0.5, triggered: true,
      message: 'The local model was unsure of its next tokens.' }
  ],
  local: {
    backend: 'transformers', model: 'smollm2-135m', prompt_tokens: 30, completion_tokens: 5,
    ttft_s: 0.2, tokens_per_s: 14.9, seconds: 0.5, stopped_early: true
  },
  cloud: { model: 'gpt-4o-mini', host: 'api.example', prompt_tokens: 30, completion_tokens: 12, ttft_s: 0.4,
    seconds: 1.1, cost_usd: 0.00042 },
  timeline: {
    probabilities: [0.55, 0.35, 0.25, 0.2, 0.2],
    elapsed_s: [0.2, 0.267, 0.334, 0.401, 0.468],
    elapsed: 'estimated from TTFT and the mean decode rate',
    watched: { signal: 'low_confidence', quantity: 'rolling mean token probability', unit: '', triggers: 'below',
      window: 8, series: [0.55, 0.45, 0.3833, 0.3375, 0.31], threshold: 0.5 },
    stop: { index: 4, reason: 'early_handoff', early: true }
  },
  started_at: '2026-01-01T10:01:00Z'
};

export const BLOCKED_RUN = {
  ...CLOUD_RUN,
  route: 'local',
  handoff: { requested: true, performed: false, blocked_by: 'private', stage: 'before' },
  signals: [
    { name: 'private', stage: 'before', value: true, threshold: null, triggered: true,
      message: 'The prompt uses a variable marked private.', blocks_handoff: true }
  ],
  cloud: null
};

export const FAILED_RUN = {
  ...CLOUD_RUN,
  route: 'local',
  handoff: { requested: true, performed: false, blocked_by: 'cloud_error', stage: 'after' },
  cloud: null
};

/** Version 2: a handoff --allow-sensitive let go; the prompt's (allowed) secret is listed first. */
export const ALLOWED_SECRET_RUN = {
  ...CLOUD_RUN,
  version: 2,
  handoff: { requested: true, performed: true, blocked_by: null, stage: 'during', reason: 'low_confidence' },
  signals: [
    { name: 'privacy', stage: 'before', value: 1, threshold: 0, triggered: true,
      message: 'The prompt contains 1 sensitive item (openai_key); sending it was allowed explicitly.' },
    ...CLOUD_RUN.signals
  ]
};

/** Version 2, decided by a policy with no signal of its own (random): the reason is the policy. */
export const RANDOM_RUN = {
  ...CLOUD_RUN,
  version: 2,
  handoff: { requested: true, performed: true, blocked_by: null, stage: 'before', reason: 'random' },
  signals: [CLOUD_RUN.signals[0]]
};

export function output(bundle: unknown): { output_type: string; data: Record<string, unknown> } {
  return { output_type: 'display_data', data: { 'text/plain': 'summary', [PROVENANCE_MIME]: bundle } };
}
