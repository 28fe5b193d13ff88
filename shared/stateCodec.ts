/**
 * A replica's whole training state — step, flat parameters, optimizer state, non-trainable
 * weights (batch-norm moving statistics) — as bytes, for a joiner's sync over a data channel
 * and for the server's checkpoints. Layout:
 * 'TS' u8 version u8 pad, u32 JSON length, JSON header (space-padded to 4 bytes), then the
 * float32 arrays params, m, v (and, version 2, buffers) back to back.
 *
 * Version 1 has no buffers; a state without buffers is still written as version 1, so older
 * readers keep reading it, and version 2 (header field `buffers`: their length) is written
 * only for a model that has non-trainable weights. Both decode.
 */
import { TabswarmError } from './errors.ts';
import { hashFloat32 } from './hash.ts';
import type { OptimizerState } from './optimizer.ts';

export interface TrainingState {
  step: number;
  params: Float32Array;
  optimizer: OptimizerState;
  /** non-trainable weights (model.nonTrainableWeights in order, flat); absent or empty when the model has none */
  buffers?: Float32Array;
}

interface Header {
  step: number;
  size: number;
  name: OptimizerState['name'];
  iterations: number;
  hasM: boolean;
  hasV: boolean;
  accBeta1?: number;
  accBeta2?: number;
  /** version 2: length of the buffers array */
  buffers?: number;
}

const MAGIC = 0x5354; // 'TS'
const VERSION = 2;

/** params then buffers, one vector: what the final upload carries and what the replicas' paramHash covers. */
export function stateVector(params: Float32Array, buffers?: Float32Array): Float32Array {
  if (!buffers || buffers.length === 0) return params;
  const out = new Float32Array(params.length + buffers.length);
  out.set(params, 0);
  out.set(buffers, params.length);
  return out;
}

/**
 * The hash replicas report as `paramHash`: over params and buffers together; for a model
 * without non-trainable weights it is hashFloat32(params), as before.
 */
export function stateHash(s: { params: Float32Array; buffers?: Float32Array | undefined }): string {
  return hashFloat32(stateVector(s.params, s.buffers));
}

export function encodeState(s: TrainingState): Uint8Array {
  const o = s.optimizer;
  const nb = s.buffers?.length ?? 0;
  const h: Header = {
    step: s.step, size: s.params.length, name: o.name, iterations: o.iterations, hasM: !!o.m, hasV: !!o.v,
    ...(o.accBeta1 !== undefined ? { accBeta1: o.accBeta1 } : {}), ...(o.accBeta2 !== undefined ? { accBeta2: o.accBeta2 } : {}),
    ...(nb > 0 ? { buffers: nb } : {}),
  };
  let json = JSON.stringify(h);
  while ((8 + json.length) % 4 !== 0) json += ' ';
  const arrays = [s.params, ...(o.m ? [o.m] : []), ...(o.v ? [o.v] : []), ...(nb > 0 ? [s.buffers!] : [])];
  const out = new Uint8Array(8 + json.length + arrays.reduce((a, x) => a + x.byteLength, 0));
  const dv = new DataView(out.buffer);
  dv.setUint16(0, MAGIC, true);
  dv.setUint8(2, nb > 0 ? VERSION : 1);
  dv.setUint32(4, json.length, true);
  out.set(new TextEncoder().encode(json), 8);
  let off = 8 + json.length;
  for (const a of arrays) {
    out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), off);
    off += a.byteLength;
  }
  return out;
}

export function decodeState(bytes: Uint8Array): TrainingState {
  const bad = (why: string) => new TabswarmError('BAD_REQUEST', `training state: ${why}`);
  if (bytes.byteLength < 8) throw bad('too short');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = dv.getUint8(2);
  if (dv.getUint16(0, true) !== MAGIC || version < 1 || version > VERSION) throw bad('bad magic or version');
  const jl = dv.getUint32(4, true);
  if (8 + jl > bytes.byteLength) throw bad('header truncated');
  let h: Header;
  try {
    h = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + jl))) as Header;
  } catch {
    throw bad('header is not JSON');
  }
  if (!Number.isInteger(h.step) || !Number.isInteger(h.size) || h.size < 0) throw bad('bad header');
  const nb = version >= 2 ? (h.buffers ?? 0) : 0;
  if (!Number.isInteger(nb) || nb < 0) throw bad('bad header');
  const n = 1 + (h.hasM ? 1 : 0) + (h.hasV ? 1 : 0);
  if (bytes.byteLength !== 8 + jl + (n * h.size + nb) * 4) throw bad(`length ${bytes.byteLength} does not match ${h.size} parameters and ${nb} buffers`);
  const body = new Uint8Array(bytes.subarray(8 + jl)); // an aligned copy (a Node Buffer's slice() would be a view)
  const arr = (i: number) => new Float32Array(body.buffer, i * h.size * 4, h.size);
  let i = 0;
  const params = arr(i++);
  const m = h.hasM ? arr(i++) : undefined;
  const v = h.hasV ? arr(i++) : undefined;
  const buffers = nb > 0 ? new Float32Array(body.buffer, i * h.size * 4, nb) : undefined;
  return {
    step: h.step,
    params,
    ...(buffers ? { buffers } : {}),
    optimizer: {
      name: h.name, iterations: h.iterations,
      ...(m ? { m } : {}), ...(v ? { v } : {}),
      ...(h.accBeta1 !== undefined ? { accBeta1: h.accBeta1 } : {}), ...(h.accBeta2 !== undefined ? { accBeta2: h.accBeta2 } : {}),
    },
  };
}
