/**
 * The coordinator driven by hand: a fake clock, a captured ticker (fired every 500 ms as a
 * live server's would) and member handles that record what they are sent.
 */
import * as tf from '@tensorflow/tfjs';
import { Coordinator, type CoordinatorOptions } from '../../../server/coordinator.ts';
import { jobSpecSchema } from '../../../shared/jobSpec.ts';
import { presetSpec } from '../../../shared/presets.ts';
import type { ServerMessage } from '../../../shared/protocol.ts';

export const H = (c: string) => c.repeat(16);
export const INFO = { backend: 'cpu' as const, adapter: '', reason: '', calibration: {}, userAgent: '' };

export function coordinatorHarness(over: Record<string, unknown> = {}, options: Partial<CoordinatorOptions> = {}) {
  const spec = jobSpecSchema.parse({ ...presetSpec(tf, 'iris-mlp'), steps: 10, checkpointEvery: 2, ...over });
  let now = 0;
  let tick = () => {};
  const inbox = new Map<string, ServerMessage[]>();
  const disconnected = new Set<string>();
  const c = new Coordinator('job', spec, {
    now: () => now,
    every: (_ms, fn) => {
      tick = fn;
      return () => {};
    },
    options: { heartbeatMs: 1000, heartbeatTimeoutMs: 5000, syncTimeoutMs: 3000, ...options },
  });
  const add = (id: string, sps = 100) => {
    inbox.set(id, []);
    c.join(id, { send: (m) => inbox.get(id)!.push(m), disconnect: () => disconnected.add(id) });
    c.ready(id, INFO, sps);
  };
  const all = <T extends ServerMessage['type']>(id: string, type: T) => inbox.get(id)!.filter((m): m is Extract<ServerMessage, { type: T }> => m.type === type);
  const last = <T extends ServerMessage['type']>(id: string, type: T) => all(id, type).at(-1);
  const lastStep = (id: string) => last(id, 'step');
  const report = (id: string, o: { hash?: string; paramHash?: string; loss?: number; correct?: number; count?: number } = {}) => {
    const s = lastStep(id)!;
    c.computed(id, s.step, s.epoch);
    c.reduced(id, { type: 'reduced', step: s.step, epoch: s.epoch, hash: o.hash ?? H('b'), paramHash: o.paramHash ?? H('a'), computeMs: 5, allreduceMs: 1, loss: o.loss ?? 1, correct: o.correct ?? 1, count: o.count ?? 1 });
  };
  /** every ring member of the open step reports the same result */
  const finishStep = () => {
    for (const id of lastStep(c.ring[0]!)!.ring) report(id);
  };
  /** time passes as on a live server: the coordinator's timer fires every 500 ms */
  const advance = (ms: number, alive: string[] = []) => {
    for (let left = ms; left > 0; left -= 500) {
      now += Math.min(500, left);
      for (const id of alive) c.touch(id);
      tick();
    }
  };
  /** the server's event loop stood still for `ms`: one late timer fire, nothing else ran */
  const stall = (ms: number) => {
    now += ms;
    tick();
  };
  return { c, spec, add, inbox, all, last, lastStep, report, finishStep, disconnected, advance, stall };
}
