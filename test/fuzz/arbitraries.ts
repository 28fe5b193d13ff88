/**
 * fast-check generators of malformed input for the server: socket.io events that the worker
 * protocol must reject, and REST bodies that job creation must reject. Each generator mixes
 * arbitrary values with near-misses — a valid message or spec with one field wrong, missing
 * or oversized — since near-misses are what reach the deeper checks.
 */
import fc from 'fast-check';
import { clientMessageSchema, PROTOCOL_VERSION } from '../../shared/protocol.ts';

const HASH = '0123456789abcdef';

/** One valid message of each client type. */
export const VALID_MESSAGES: Record<string, Record<string, unknown>> = {
  join: { type: 'join', protocol: PROTOCOL_VERSION, jobId: 'abcdefgh' },
  ready: { type: 'ready', info: { backend: 'cpu', adapter: '', reason: '', calibration: {}, userAgent: '' }, samplesPerSec: 10 },
  signal: { type: 'signal', to: 'peer1234', data: { type: 'offer', sdp: 'v=0' } },
  reduced: { type: 'reduced', step: 1, epoch: 1, hash: HASH, paramHash: HASH, computeMs: 1, allreduceMs: 1, loss: 1, correct: 1, count: 1 },
  final: { type: 'final', step: 1, paramHash: HASH, eval: { correct: 1, count: 2 } },
  eval: { type: 'eval', step: 1, correct: 1, count: 2 },
  'step-failed': { type: 'step-failed', step: 1, epoch: 1, code: 'X', message: 'm' },
  computed: { type: 'computed', step: 1, epoch: 1, computeMs: 1 },
  'sync-sent': { type: 'sync-sent', step: 1, to: 'peer1234', paramHash: HASH },
  synced: { type: 'synced', step: 1, paramHash: HASH },
  'param-hash': { type: 'param-hash', step: 1, paramHash: HASH },
  heartbeat: { type: 'heartbeat' },
  leave: { type: 'leave' },
};

const anyValue = fc.anything({ maxDepth: 3, maxKeys: 6, withNullPrototype: true, withTypedArray: true, withSparseArray: true });

/** Values that are wrong for almost any field. */
export const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  anyValue,
  fc.constantFrom(-1, 0.5, -0.5, 2 ** 53, 1e308, -1e308, '', 'x', '0123456789ABCDEF', 'g'.repeat(16), true, null, [], {}),
  fc.string({ minLength: 65, maxLength: 600 }),
  fc.uint8Array({ maxLength: 32 }),
  fc.integer({ min: 2 ** 32, max: Number.MAX_SAFE_INTEGER }),
);

const messageNames = Object.keys(VALID_MESSAGES);

/** A valid message with one field replaced, removed or added where the schema is strict about it. */
const nearMiss: fc.Arbitrary<unknown> = fc
  .tuple(fc.constantFrom(...messageNames), fc.nat(), wrongValue, fc.constantFrom('replace', 'delete', 'type'))
  .map(([name, i, v, how]) => {
    const m: Record<string, unknown> = { ...VALID_MESSAGES[name]! };
    const keys = Object.keys(m).filter((k) => k !== 'type');
    if (how === 'type' || keys.length === 0) m.type = typeof v === 'string' ? v : name.toUpperCase();
    else if (how === 'delete') delete m[keys[i % keys.length]!];
    else m[keys[i % keys.length]!] = v;
    return m;
  });

/** Size bounds: signal data over 32 KiB, strings over their limits, ids over 64 characters. */
const oversized: fc.Arbitrary<unknown> = fc.constantFrom(
  { ...VALID_MESSAGES.signal, data: { sdp: 'x'.repeat(33 * 1024) } },
  { ...VALID_MESSAGES.signal, to: 'p'.repeat(65) },
  { ...VALID_MESSAGES['step-failed'], message: 'm'.repeat(501) },
  { ...VALID_MESSAGES['step-failed'], code: 'c'.repeat(41) },
  { ...VALID_MESSAGES.ready, info: { backend: 'cpu', userAgent: 'u'.repeat(301) } },
  { type: 'checkpoint', step: 1, paramHash: HASH, state: new Uint8Array(7) },
  { ...VALID_MESSAGES.join, jobId: 'j'.repeat(65) },
);

/**
 * What the server receives for `v` after socket.io's encoding: any binary view arrives as
 * bytes (a Buffer), undefined and non-finite numbers as in JSON (dropped from objects, null
 * in arrays), -0 as 0.
 */
export function onTheWire(v: unknown): unknown {
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (typeof v === 'number') return Number.isFinite(v) ? v + 0 : null;
  if (Array.isArray(v)) return Array.from(v, (x) => (x === undefined ? null : onTheWire(x)));
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = onTheWire(x);
    return out;
  }
  return v;
}

/** Not valid for `clientMessageSchema` as the server will see it: whatever arrives must be refused. */
export const malformedMessage: fc.Arbitrary<unknown> = fc
  .oneof({ arbitrary: anyValue, weight: 2 }, { arbitrary: nearMiss, weight: 6 }, { arbitrary: oversized, weight: 1 })
  .filter((m) => !clientMessageSchema.safeParse(m).success && !clientMessageSchema.safeParse(onTheWire(m)).success);

const RESERVED = new Set(['msg', 'connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener']);

/** An event the server does not listen for, with a few arguments. */
export const unknownEvent = fc.tuple(
  fc.oneof(fc.string({ minLength: 1, maxLength: 30 }), fc.constantFrom('error', 'constructor', '__proto__', 'toString', 'message')).filter((n) => !RESERVED.has(n)),
  fc.array(anyValue, { maxLength: 3 }),
);

/** A malformed socket event: mostly `msg` with a bad message, sometimes an unknown event. */
export type FuzzEvent = { event: 'msg'; args: [unknown] } | { event: string; args: unknown[] };
export const malformedEvent: fc.Arbitrary<FuzzEvent> = fc.oneof(
  { arbitrary: malformedMessage.map((m): FuzzEvent => ({ event: 'msg', args: [m] })), weight: 9 },
  { arbitrary: unknownEvent.map(([event, args]): FuzzEvent => ({ event, args })), weight: 1 },
);

/** A REST body for POST /api/jobs: raw bytes, JSON that is not a spec, or a spec with one thing wrong. */
export function malformedJobBody(validSpec: Record<string, unknown>): fc.Arbitrary<string> {
  const specKeys = Object.keys(validSpec);
  const nearSpec = fc.tuple(fc.constantFrom(...specKeys, 'dataset.id', 'optimizer.name', 'optimizer.learningRate', 'extra'), wrongValue, fc.boolean()).map(([key, v, del]) => {
    const s: Record<string, unknown> = structuredClone(validSpec);
    const [outer, inner] = key.split('.') as [string, string | undefined];
    if (inner) {
      const o = { ...(s[outer] as Record<string, unknown>) };
      if (del) delete o[inner];
      else o[inner] = v;
      s[outer] = o;
    } else if (del && key !== 'extra') delete s[key];
    else s[key] = v;
    return JSON.stringify(s);
  });
  const nearPreset = fc
    .record({ preset: fc.oneof(fc.constantFrom('iris-mlp', 'IRIS-MLP', 'nope', '__proto__', 'constructor'), wrongValue), override: fc.constantFrom(...specKeys, 'extra'), v: wrongValue })
    .map(({ preset, override, v }) => JSON.stringify({ preset, [override]: v }));
  const nasty = fc.constantFrom(
    '{"__proto__": {"polluted": 1}, "preset": "iris-mlp", "steps": -1}',
    '{"constructor": {"prototype": {"polluted": 1}}, "preset": "iris-mlp", "batchSize": 0}',
    '{"preset": "iris-mlp", "model": {"class_name": "Sequential", "config": {"__proto__": {"polluted": 1}}}, "steps": 0}',
    '['.repeat(5000) + ']'.repeat(5000),
    '{"a":'.repeat(3000) + '1' + '}'.repeat(3000),
    '"\\ud800"',
    '',
  );
  return fc.oneof(
    { arbitrary: nasty, weight: 1 },
    { arbitrary: fc.string({ maxLength: 200 }), weight: 2 },
    { arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1')), weight: 1 },
    { arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)), weight: 2 },
    { arbitrary: nearSpec, weight: 4 },
    { arbitrary: nearPreset, weight: 1 },
  );
}

/** A failure report that names the seed, the path and the cause without printing megabytes of counterexample. */
export async function shortReport<T>(d: fc.RunDetails<T>): Promise<void> {
  if (!d.failed) return;
  const example = JSON.stringify(d.counterexample, (_k, v: unknown) => (typeof v === 'string' && v.length > 80 ? `${v.slice(0, 80)}…(${v.length})` : v));
  const cause = d.errorInstance instanceof Error ? d.errorInstance.message : String(d.errorInstance);
  throw new Error(`property failed (seed ${d.seed}, path ${d.counterexamplePath}): ${cause.slice(0, 1000)}\ncounterexample: ${example?.slice(0, 4000)}`);
}
