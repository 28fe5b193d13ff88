import { describe, expect, it } from 'vitest';
import { hashFloat32 } from '../../shared/hash.ts';
import { parseClientMessage, parseServerMessage, PROTOCOL_VERSION } from '../../shared/protocol.ts';

const H = hashFloat32(Float32Array.of(1, 2, 3)); // a real 16-hex-digit hash
const H2 = hashFloat32(Float32Array.of(4, 5, 6));
const SPEC = {
  model: { class_name: 'Sequential', config: { name: 'm', layers: [] } },
  optimizer: { name: 'sgd', learningRate: 0.1 },
  dataset: { id: 'iris' },
  batchSize: 30,
  steps: 100,
};

const REDUCED = {
  type: 'reduced', step: 3, epoch: 1, hash: H, paramHash: H2,
  computeMs: 12.5, allreduceMs: 3, loss: 0.69, correct: 20, count: 30,
};

/** a signal payload whose JSON is exactly `n` characters */
function signalOfJsonLength(n: number): Record<string, unknown> {
  const d = { sdp: 'x'.repeat(n - '{"sdp":""}'.length) };
  expect(JSON.stringify(d).length).toBe(n);
  return d;
}

describe('valid client messages parse', () => {
  const valid: [string, Record<string, unknown>][] = [
    ['join', { type: 'join', protocol: PROTOCOL_VERSION, jobId: 'job-1' }],
    ['ready', { type: 'ready', info: { backend: 'webgpu', adapter: 'NVIDIA', reason: 'fastest', calibration: { webgpu: 1.5 }, userAgent: 'UA' }, samplesPerSec: 1234.5 }],
    ['signal', { type: 'signal', to: 'peer-2', data: { type: 'offer', sdp: 'v=0…' } }],
    ['signal at the size limit', { type: 'signal', to: 'peer-2', data: signalOfJsonLength(32 * 1024) }],
    ['reduced', REDUCED],
    ['final', { type: 'final', step: 100, paramHash: H, eval: { correct: 970, count: 1000 } }],
    ['final without an evaluation part', { type: 'final', step: 100, paramHash: H, eval: null }],
    ['step-failed', { type: 'step-failed', step: 3, epoch: 1, code: 'FRAME_MISROUTED', message: 'segment 2 not expected' }],
    ['eval', { type: 'eval', step: 50, correct: 9, count: 10 }],
    ['step-failed naming a suspect', { type: 'step-failed', step: 3, epoch: 1, code: 'LINK_FAILED', message: 'x', suspect: 'peer-3' }],
    ['computed', { type: 'computed', step: 3, epoch: 1, computeMs: 4.5 }],
    ['sync-sent', { type: 'sync-sent', step: 3, to: 'peer-4', paramHash: H }],
    ['synced', { type: 'synced', step: 3, paramHash: H }],
    ['heartbeat', { type: 'heartbeat' }],
    ['leave', { type: 'leave' }],
    ['step and epoch at 2^32-1', { ...REDUCED, step: 0xffffffff, epoch: 0xffffffff }],
  ];
  for (const [what, msg] of valid) {
    it(what, () => {
      const r = parseClientMessage(msg);
      expect(r).toEqual({ ok: true, value: msg });
    });
  }

  it('ready: worker info defaults are applied', () => {
    const r = parseClientMessage({ type: 'ready', info: { backend: 'cpu' }, samplesPerSec: 10 });
    expect(r).toEqual({
      ok: true,
      value: { type: 'ready', info: { backend: 'cpu', adapter: '', reason: '', calibration: {}, userAgent: '' }, samplesPerSec: 10 },
    });
  });

  it('unknown extra keys are dropped, not passed on', () => {
    const r = parseClientMessage({ type: 'heartbeat', evil: true });
    expect(r).toEqual({ ok: true, value: { type: 'heartbeat' } });
  });
});

describe('valid server messages parse', () => {
  it('welcome, with the job spec defaults applied', () => {
    const r = parseServerMessage({ type: 'welcome', protocol: PROTOCOL_VERSION, peerId: 'p1', jobId: 'j1', spec: SPEC, iceServers: [{ urls: 'stun:x' }], heartbeatMs: 2000 });
    expect(r.ok).toBe(true);
    if (!r.ok || r.value.type !== 'welcome') return;
    expect(r.value.spec).toMatchObject({ ...SPEC, dataset: { id: 'iris', trainSize: 0, testSize: 0 }, seed: 1, chunkBytes: 65536, encoding: 'fp32' });
  });

  for (const msg of [
    { type: 'step', step: 4, epoch: 2, ring: ['a', 'b'], slices: [{ peerId: 'a', start: 0, count: 10 }, { peerId: 'b', start: 10, count: 0 }], learningRate: 0.01 },
    { type: 'sync-send', step: 4, to: 'joiner' },
    { type: 'sync-receive', step: 4, from: 'donor' },
    { type: 'sync-state', step: 4, state: new Uint8Array(16) },
    { type: 'checkpoint-request', step: 25, upload: true },
    { type: 'commit', step: 4, epoch: 2, evalPart: null },
    { type: 'commit', step: 9, epoch: 2, evalPart: { index: 1, of: 3 } },
    { type: 'abort', step: 4, epoch: 2, reason: 'member b dropped' },
    { type: 'done', step: 100, upload: true, evalPart: { index: 0, of: 1 } },
    { type: 'signal', from: 'a', data: { candidate: 'c' } },
    { type: 'error', code: 'BAD_REQUEST', message: 'type: …' },
  ]) {
    it(msg.type, () => expect(parseServerMessage(msg)).toEqual({ ok: true, value: msg }));
  }
});

describe('invalid client messages are rejected with BAD_REQUEST naming the field', () => {
  const table: [string, unknown, string][] = [
    ['unknown type', { type: 'hello' }, 'type'],
    ['missing type', { jobId: 'j' }, 'type'],
    ['type of the wrong kind', { type: 3 }, 'type'],
    ['null', null, '(root)'],
    ['a string', 'join', '(root)'],
    ['an array', [{ type: 'join' }], '(root)'],
    ['join without jobId', { type: 'join', protocol: 1 }, 'jobId'],
    ['join without protocol', { type: 'join', jobId: 'j' }, 'protocol'],
    ['join with an empty jobId', { type: 'join', protocol: 1, jobId: '' }, 'jobId'],
    ['join with a 65-character jobId', { type: 'join', protocol: 1, jobId: 'j'.repeat(65) }, 'jobId'],
    ['ready without info', { type: 'ready', samplesPerSec: 1 }, 'info'],
    ['ready with an unknown backend', { type: 'ready', info: { backend: 'cuda' }, samplesPerSec: 1 }, 'info.backend'],
    ['ready with zero throughput', { type: 'ready', info: { backend: 'cpu' }, samplesPerSec: 0 }, 'samplesPerSec'],
    ['ready with NaN throughput', { type: 'ready', info: { backend: 'cpu' }, samplesPerSec: NaN }, 'samplesPerSec'],
    ['ready with infinite throughput', { type: 'ready', info: { backend: 'cpu' }, samplesPerSec: Infinity }, 'samplesPerSec'],
    ['signal without to', { type: 'signal', data: {} }, 'to'],
    ['signal without data', { type: 'signal', to: 'p' }, 'data'],
    ['signal data not an object', { type: 'signal', to: 'p', data: 'sdp' }, 'data'],
    ['oversize signal data', { type: 'signal', to: 'p', data: signalOfJsonLength(32 * 1024 + 1) }, 'data'],
    ['very oversize signal data', { type: 'signal', to: 'p', data: { a: 'x'.repeat(1 << 20) } }, 'data'],
    ['reduced with an upper-case hash', { ...REDUCED, hash: 'ABCDEF0123456789' }, 'hash'],
    ['reduced with a short hash', { ...REDUCED, hash: H.slice(1) }, 'hash'],
    ['reduced with a long hash', { ...REDUCED, hash: H + '0' }, 'hash'],
    ['reduced with a non-hex hash', { ...REDUCED, hash: 'g'.repeat(16) }, 'hash'],
    ['reduced with a hash padded by spaces', { ...REDUCED, hash: ` ${H}` }, 'hash'],
    ['reduced with a numeric hash', { ...REDUCED, hash: 1234567890123456 }, 'hash'],
    ['reduced with a bad paramHash', { ...REDUCED, paramHash: 'xyz' }, 'paramHash'],
    ['reduced without a hash', { ...REDUCED, hash: undefined }, 'hash'],
    ['reduced with a negative step', { ...REDUCED, step: -1 }, 'step'],
    ['reduced with a fractional step', { ...REDUCED, step: 1.5 }, 'step'],
    ['reduced with a step past 32 bits', { ...REDUCED, step: 2 ** 32 }, 'step'],
    ['reduced without epoch', { ...REDUCED, epoch: undefined }, 'epoch'],
    ['reduced with NaN loss', { ...REDUCED, loss: NaN }, 'loss'],
    ['reduced with negative count', { ...REDUCED, count: -1 }, 'count'],
    ['reduced with negative computeMs', { ...REDUCED, computeMs: -0.5 }, 'computeMs'],
    ['final with a fractional count', { type: 'final', step: 1, paramHash: H, eval: { correct: 1, count: 1.5 } }, 'eval.count'],
    ['final without eval', { type: 'final', step: 1, paramHash: H }, 'eval'],
    ['step-failed with an oversize message', { type: 'step-failed', step: 1, epoch: 1, code: 'X', message: 'm'.repeat(501) }, 'message'],
    ['eval with a negative count', { type: 'eval', step: 1, correct: 0, count: -1 }, 'count'],
    ['step-failed with an empty suspect', { type: 'step-failed', step: 1, epoch: 1, code: 'X', message: '', suspect: '' }, 'suspect'],
    ['sync-sent with a bad paramHash', { type: 'sync-sent', step: 1, to: 'p', paramHash: H.slice(0, 8) }, 'paramHash'],
    ['a checkpoint over the socket (protocol 1; state goes over HTTP now)', { type: 'checkpoint', step: 1, paramHash: H, state: new Uint8Array(64) }, 'type'],
    ['step-failed with an oversize code', { type: 'step-failed', step: 1, epoch: 1, code: 'C'.repeat(41), message: '' }, 'code'],
  ];
  for (const [what, msg, field] of table) {
    it(`${what} → ${field}`, () => {
      const r = parseClientMessage(msg);
      expect(r.ok).toBe(false);
      if (r.ok) return;
      expect(r.code).toBe('BAD_REQUEST');
      expect(r.message.startsWith(`${field}: `)).toBe(true);
    });
  }

  it('the message says what was wrong', () => {
    const unknown = parseClientMessage({ type: 'hello' });
    expect(!unknown.ok && unknown.message).toMatch(/^type: .*'join'/);
    const big = parseClientMessage({ type: 'signal', to: 'p', data: signalOfJsonLength(40000) });
    expect(!big.ok && big.message).toBe('data: signal data too large');
    const missing = parseClientMessage({ type: 'join', protocol: 1 });
    expect(!missing.ok && missing.message).toBe('jobId: Required');
  });
});

describe('invalid server messages are rejected with BAD_REQUEST naming the field', () => {
  const table: [string, unknown, string][] = [
    ['unknown type', { type: 'reboot' }, 'type'],
    ['welcome with a bad spec', { type: 'welcome', protocol: 1, peerId: 'p', jobId: 'j', spec: { ...SPEC, batchSize: -1 }, iceServers: [], heartbeatMs: 1000 }, 'spec.batchSize'],
    ['welcome without iceServers', { type: 'welcome', protocol: 1, peerId: 'p', jobId: 'j', spec: SPEC, heartbeatMs: 1000 }, 'iceServers'],
    ['welcome with a zero heartbeat', { type: 'welcome', protocol: 1, peerId: 'p', jobId: 'j', spec: SPEC, iceServers: [], heartbeatMs: 0 }, 'heartbeatMs'],
    ['commit without evalPart', { type: 'commit', step: 1, epoch: 1 }, 'evalPart'],
    ['commit with a part past the end', { type: 'commit', step: 1, epoch: 1, evalPart: { index: 3, of: 3 } }, 'evalPart'],
    ['step with an empty ring id', { type: 'step', step: 1, epoch: 1, ring: ['a', ''], slices: [], learningRate: 0.01 }, 'ring.1'],
    ['step with a negative slice count', { type: 'step', step: 1, epoch: 1, ring: ['a'], slices: [{ peerId: 'a', start: 0, count: -1 }], learningRate: 0.01 }, 'slices.0.count'],
    ['step without slices', { type: 'step', step: 1, epoch: 1, ring: ['a'], learningRate: 0.01 }, 'slices'],
    ['abort without a reason', { type: 'abort', step: 1, epoch: 1 }, 'reason'],
    ['oversize signal data', { type: 'signal', from: 'a', data: signalOfJsonLength(32 * 1024 + 1) }, 'data'],
  ];
  for (const [what, msg, field] of table) {
    it(`${what} → ${field}`, () => {
      const r = parseServerMessage(msg);
      expect(r.ok).toBe(false);
      if (r.ok) return;
      expect(r.code).toBe('BAD_REQUEST');
      expect(r.message.startsWith(`${field}: `)).toBe(true);
    });
  }
});
