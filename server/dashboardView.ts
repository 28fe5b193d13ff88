/**
 * What the dashboard shows of a job, read straight from its coordinator: the public summary
 * anybody with the job id may see, and the owner's private view. Pure functions of the
 * coordinator's state, so a late-opened dashboard sees the whole stored history.
 */
import { planSlices } from '../shared/batchPlan.ts';
import { sliceGranularity } from '../shared/exactness.ts';
import type { MemberRow, PrivateView, PublicSummary } from '../shared/dashboardProtocol.ts';
import { isGone } from './memberState.ts';
import type { Job } from './jobs.ts';
import { jobHeadline } from './jobViews.ts';

interface LayerJson {
  class_name?: unknown;
  config?: { units?: unknown; filters?: unknown; output_dim?: unknown; kernel_size?: unknown; activation?: unknown; pool_size?: unknown };
}

/** tfjs takes `kernel_size: 3` as well as `[3, 3]`: show either, and anything else as nothing. */
const dims = (v: unknown): string | null =>
  typeof v === 'number' ? String(v) : Array.isArray(v) && v.every((x) => typeof x === 'number') ? v.join('×') : null;
const word = (v: unknown): string | null => (typeof v === 'string' || typeof v === 'number' ? String(v).slice(0, 40) : null);

/** A one-line description of a Layers topology, e.g. "Sequential: Dense(16, relu) → Dense(3, softmax)". */
export function describeModel(model: unknown): string {
  const m = (model ?? {}) as { class_name?: unknown; config?: { layers?: unknown } | unknown[] };
  const raw = Array.isArray(m.config) ? m.config : (m.config as { layers?: unknown } | undefined)?.layers;
  const layers = (Array.isArray(raw) ? raw : []) as (LayerJson | null)[];
  const one = (l: LayerJson | null) => {
    const c = (l && typeof l.config === 'object' && l.config) || {};
    const act = word(c.activation);
    const args = [word(c.units ?? c.filters ?? c.output_dim), dims(c.kernel_size), dims(c.pool_size), act && act !== 'linear' ? act : null].filter((x) => x !== null);
    return `${word(l?.class_name) ?? '?'}${args.length ? `(${args.join(', ')})` : ''}`;
  };
  return `${word(m.class_name) ?? 'Model'}: ${layers.slice(0, 50).map(one).join(' → ')}`.slice(0, 300);
}

export function publicSummary(job: Job, paramCount: number): PublicSummary {
  const c = job.coordinator;
  return {
    ...jobHeadline(job),
    dataset: job.spec.dataset.id,
    activeMembers: [...c.members.values()].filter((m) => !isGone(m.state)).length,
    paramCount,
    task: c.task,
    model: describeModel(job.spec.model),
  };
}

/** Every member ever seen, with its share of the next global batch (as the coordinator will slice it). */
export function memberRows(job: Job): MemberRow[] {
  const c = job.coordinator;
  const active = c.active();
  const slices = planSlices(job.spec.batchSize, active.map((m) => ({ peerId: m.id, weight: m.samplesPerSec })), { granularity: sliceGranularity(job.spec) });
  const share = new Map(slices.map((s) => [s.peerId, s.count / job.spec.batchSize]));
  return [...c.members.values()].map((m) => ({
    id: m.id,
    state: m.state,
    backend: m.info?.backend ?? null,
    adapter: m.info?.adapter || null,
    reason: m.info?.reason || null,
    goneReason: m.reason,
    samplesPerSec: m.samplesPerSec,
    share: share.get(m.id) ?? 0,
    samplesDone: m.samplesDone,
    stepsDone: m.stepsDone,
    rttMs: m.link?.rttMs ?? null,
    link: m.link && m.link.relayed !== null ? (m.link.relayed ? 'relayed' : 'direct') : null,
    joinedAt: m.joinedAt,
  }));
}

export function membersMessage(job: Job) {
  const c = job.coordinator;
  return {
    type: 'members' as const,
    members: memberRows(job),
    ring: [...c.ring],
    epoch: c.epoch,
    learningRate: c.learningRate,
    checkpointStep: c.checkpoint?.step ?? null,
    hasFinalWeights: c.finalParams !== null,
  };
}

export function privateView(job: Job): PrivateView {
  const c = job.coordinator;
  const m = membersMessage(job);
  return {
    spec: job.spec as unknown as Record<string, unknown>,
    learningRate: m.learningRate,
    epoch: m.epoch,
    ring: m.ring,
    members: m.members,
    metrics: c.metrics.map((x) => ({ ...x })),
    events: c.events.map((e) => ({ ...e })),
    checkpointStep: m.checkpointStep,
    hasFinalWeights: m.hasFinalWeights,
  };
}
