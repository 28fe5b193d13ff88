/**
 * The server's jobs: spec validation (or a preset), ids, owner tokens (random, returned once,
 * kept only as a SHA-256 hash, compared in constant time) and each job's coordinator.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { TabswarmError } from '../shared/errors.ts';
import { jobSpecSchema, type JobSpec } from '../shared/jobSpec.ts';
import { PRESET_NAMES, presetSpec, type PresetName } from '../shared/presets.ts';
import { Coordinator, type CoordinatorDeps } from './coordinator.ts';
import type { VettedModel } from './vetting/vetSpec.ts';

export { vetSpec, type VettedModel } from './vetting/vetSpec.ts';

export interface Job {
  id: string;
  spec: JobSpec;
  tokenHash: string;
  createdAt: number;
  coordinator: Coordinator;
  /** the model as vetSpec() accepted it: shapes, parameter count, caps checked */
  vetted: VettedModel;
}

const hashToken = (t: string) => createHash('sha256').update(t).digest('hex');

/**
 * A job spec from a REST body: a full spec, or `{ preset, ...overrides }`. This checks the
 * schema only; the model is vetted by `vetSpec()` (async: it builds the model once) before
 * `JobRegistry.create()`.
 */
export function specFromBody(body: unknown): JobSpec {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new TabswarmError('BAD_JOB_SPEC', 'body must be a JSON object');
  let raw: Record<string, unknown> = body as Record<string, unknown>;
  if ('preset' in raw) {
    const { preset, ...overrides } = raw;
    if (!PRESET_NAMES.includes(preset as PresetName)) throw new TabswarmError('BAD_JOB_SPEC', `preset: must be one of ${PRESET_NAMES.join(', ')}`);
    const base = presetSpec(tf, preset as PresetName) as Record<string, unknown>;
    const ds = overrides.dataset && typeof overrides.dataset === 'object' ? { ...(base.dataset as object), ...(overrides.dataset as object) } : base.dataset;
    const opt = overrides.optimizer && typeof overrides.optimizer === 'object' ? { ...(base.optimizer as object), ...(overrides.optimizer as object) } : base.optimizer;
    raw = { ...base, ...overrides, dataset: ds, optimizer: opt };
  }
  let r: ReturnType<typeof jobSpecSchema.safeParse>;
  try {
    r = jobSpecSchema.safeParse(raw);
  } catch {
    throw new TabswarmError('BAD_JOB_SPEC', 'spec could not be validated (nested too deeply?)'); // e.g. a stack overflow in a refinement
  }
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new TabswarmError('BAD_JOB_SPEC', `${i.path.join('.') || '(root)'}: ${i.message}`);
  }
  return r.data;
}

/**
 * The spec with the vetter's normalised topology (e.g. `kernel_size: 3` as `[3, 3]`), so the
 * dashboard, the export and every volunteer read one form; tfjs reads both the same.
 */
function withVettedModel(spec: JobSpec, vetted: VettedModel): JobSpec {
  return { ...spec, model: vetted.model as JobSpec['model'] };
}

export class JobRegistry {
  readonly jobs = new Map<string, Job>();
  constructor(
    private readonly deps: {
      now: () => number;
      /** `spec`: the job's (a stored dataset's shard layout comes from it) */
      coordinatorDeps: (jobId: string, spec?: JobSpec) => CoordinatorDeps;
      /** persists a new job; a throw refuses the job (server/store/) */
      onCreate?: (job: Job) => void;
    },
  ) {}

  /** A new job; `vetted` is vetSpec(spec)'s answer, whose normalised topology the job keeps. */
  create(spec: JobSpec, vetted: VettedModel, extra: Partial<CoordinatorDeps> = {}): { job: Job; ownerToken: string } {
    const id = randomBytes(6).toString('base64url');
    const ownerToken = randomBytes(24).toString('base64url');
    spec = withVettedModel(spec, vetted);
    const job: Job = { id, spec, tokenHash: hashToken(ownerToken), createdAt: this.deps.now(), coordinator: new Coordinator(id, spec, { ...this.deps.coordinatorDeps(id, spec), ...extra }), vetted };
    try {
      this.deps.onCreate?.(job);
    } catch (e) {
      job.coordinator.destroy();
      throw e;
    }
    this.jobs.set(id, job);
    return { job, ownerToken };
  }

  /** A job from the store after a restart: same id and token hash, its coordinator resumed from `restore`. */
  adopt(rec: Omit<Job, 'coordinator' | 'vetted'>, vetted: VettedModel, restore?: CoordinatorDeps['restore']): Job {
    const deps = this.deps.coordinatorDeps(rec.id, rec.spec);
    const spec = withVettedModel(rec.spec, vetted);
    const job: Job = { ...rec, spec, vetted, coordinator: new Coordinator(rec.id, spec, restore ? { ...deps, restore } : deps) };
    this.jobs.set(rec.id, job);
    return job;
  }

  get(id: string): Job {
    const j = this.jobs.get(id);
    if (!j) throw new TabswarmError('UNKNOWN_JOB', `no job ${id}`);
    return j;
  }

  isOwner(job: Job, token: string | undefined): boolean {
    if (!token) return false;
    const a = Buffer.from(hashToken(token), 'hex');
    const b = Buffer.from(job.tokenHash, 'hex');
    return a.length === b.length && timingSafeEqual(a, b);
  }
}
