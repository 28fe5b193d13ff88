/**
 * Gradient codecs for the ring's frames: fp32 (exact), fp16 and int8 block-scaled (lossy).
 * Allocation-free: encoders write into a caller's byte range, decoders into a caller's
 * Float32Array, so the ring can encode in place in pooled or received frame buffers.
 *
 * Error feedback: an encoder given a `residual` encodes x = src + residual and leaves
 * residual = x − decode(encode(x)), so what a worker fails to send in one step is sent in a
 * later one (the sum over steps of what was sent equals the sum of what should have been,
 * up to the last residual).
 *
 * Wire layouts (little-endian, payload starts 4-byte aligned):
 *   fp32: n × f32
 *   fp16: n × IEEE binary16, round to nearest even, finite values saturate at ±65504
 *   int8: ceil(n / INT8_BLOCK) × f32 scale, then n × i8; value = q · scale, |q| ≤ 127,
 *         scale = max|x| / 127 over the block
 *
 * Decoding is pure IEEE arithmetic (a table lookup; one product rounded once to f32), so
 * every rank that decodes the same bytes gets bit-identical values.
 */
import { FrameError } from './errors.ts';

export const CODECS = ['fp32', 'fp16', 'int8'] as const;
export type CodecName = (typeof CODECS)[number];
/** the frame header's encoding byte of each codec */
export const CODEC_ID = { fp32: 0, fp16: 1, int8: 2 } as const satisfies Record<CodecName, number>;
export const INT8_BLOCK = 256;
export const FP16_MAX = 65504;

export function codecOf(id: number): CodecName {
  const c = CODECS[id];
  if (c === undefined) throw new FrameError('FRAME_BAD_ENCODING', `unknown encoding ${id}`);
  return c;
}

/** Payload bytes of `n` values in codec `c`. */
export function encodedBytes(c: CodecName, n: number): number {
  switch (c) {
    case 'fp32':
      return n * 4;
    case 'fp16':
      return n * 2;
    case 'int8':
      return Math.ceil(n / INT8_BLOCK) * 4 + n;
  }
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 bits → binary16 bits, round to nearest even; finite overflow saturates. */
export function f32BitsToF16(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const e = (x >>> 23) & 0xff;
  let m = x & 0x7fffff;
  if (e === 0xff) return sign | 0x7c00 | (m !== 0 ? 0x200 : 0);
  let he = e - 112; // rebias 127 → 15
  if (he >= 0x1f) return sign | 0x7bff;
  if (he <= 0) {
    if (he < -10) return sign;
    m |= 0x800000;
    const shift = 14 - he;
    let hm = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (hm & 1) === 1)) hm++;
    return sign | hm; // a carry into bit 10 is exactly the smallest normal
  }
  let hm = m >>> 13;
  const rem = m & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (hm & 1) === 1)) {
    hm++;
    if (hm === 0x400) {
      hm = 0;
      he++;
      if (he >= 0x1f) return sign | 0x7bff;
    }
  }
  return sign | (he << 10) | hm;
}

let halfTable: Float32Array | null = null;
/** binary16 bits → float32 value, all 65536 of them (256 KiB, built once) */
function f16Table(): Float32Array {
  if (halfTable) return halfTable;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >>> 10) & 0x1f;
    const m = h & 0x3ff;
    if (e === 0) t[h] = s * m * 2 ** -24;
    else if (e === 0x1f) t[h] = m === 0 ? s * Infinity : NaN;
    else t[h] = s * (1024 + m) * 2 ** (e - 25);
  }
  halfTable = t;
  return t;
}

export function f16ToF32(h: number): number {
  return f16Table()[h & 0xffff]!;
}

function view<T>(Ctor: new (b: ArrayBufferLike, o: number, n: number) => T, bytes: Uint8Array, off: number, n: number, align: number): T {
  const at = bytes.byteOffset + off;
  if (at % align !== 0) throw new FrameError('FRAME_BAD_LENGTH', `payload at byte ${at} is not ${align}-byte aligned`);
  return new Ctor(bytes.buffer, at, n);
}

/**
 * Encodes `src` (plus `residual` when given, which is then updated) into `dst`, which must
 * hold exactly encodedBytes(c, src.length) bytes. With `decoded`, also writes the values a
 * receiver will decode (the owner of an all-gathered segment keeps those, not its own sum).
 */
export function encodeInto(c: CodecName, src: Float32Array, dst: Uint8Array, residual: Float32Array | null = null, decoded: Float32Array | null = null): void {
  const n = src.length;
  if (dst.byteLength !== encodedBytes(c, n)) throw new FrameError('FRAME_BAD_LENGTH', `${c} payload of ${n} values needs ${encodedBytes(c, n)} bytes, got ${dst.byteLength}`);
  if (c === 'fp32') {
    const out = view(Float32Array, dst, 0, n, 4);
    if (residual) for (let i = 0; i < n; i++) out[i] = src[i]! + residual[i]!;
    else out.set(src);
    if (residual) residual.fill(0);
    if (decoded && decoded !== src) decoded.set(out);
    return;
  }
  if (c === 'fp16') {
    const out = view(Uint16Array, dst, 0, n, 2);
    const table = f16Table();
    for (let i = 0; i < n; i++) {
      f32[0] = residual ? src[i]! + residual[i]! : src[i]!;
      const h = f32BitsToF16(u32[0]!);
      out[i] = h;
      if (residual || decoded) {
        const back = table[h]!;
        if (residual) residual[i] = f32[0]! - back;
        if (decoded) decoded[i] = back;
      }
    }
    return;
  }
  const blocks = Math.ceil(n / INT8_BLOCK);
  const scales = view(Float32Array, dst, 0, blocks, 4);
  const q = new Int8Array(dst.buffer, dst.byteOffset + blocks * 4, n);
  for (let b = 0; b < blocks; b++) {
    const lo = b * INT8_BLOCK;
    const hi = Math.min(n, lo + INT8_BLOCK);
    let max = 0;
    for (let i = lo; i < hi; i++) {
      f32[0] = residual ? src[i]! + residual[i]! : src[i]!;
      const a = Math.abs(f32[0]!);
      if (a > max) max = a;
      else if (a !== a) {
        max = NaN; // a NaN scale: the receiver rejects the frame
        break;
      }
    }
    f32[0] = max / 127;
    const scale = f32[0]!;
    scales[b] = scale;
    const inv = scale > 0 ? 1 / scale : 0;
    for (let i = lo; i < hi; i++) {
      f32[0] = residual ? src[i]! + residual[i]! : src[i]!;
      const x = f32[0]!;
      let k = Math.round(x * inv) | 0; // | 0: -0 is stored as 0, so report +0 too
      if (k > 127) k = 127;
      else if (k < -127) k = -127;
      q[i] = k;
      if (residual || decoded) {
        f32[0] = k * scale;
        const back = f32[0]!;
        if (residual) residual[i] = x - back;
        if (decoded) decoded[i] = back;
      }
    }
  }
}

/**
 * Decodes `n` values from `src` (exactly encodedBytes(c, n) bytes) into `out`, replacing
 * (`set`) or adding to (`add`) what is there. Returns false when a decoded value (or, in
 * `add` mode, a sum) is not finite.
 */
export function decodeInto(c: CodecName, src: Uint8Array, out: Float32Array, mode: 'set' | 'add'): boolean {
  const n = out.length;
  if (src.byteLength !== encodedBytes(c, n)) throw new FrameError('FRAME_BAD_LENGTH', `${c} payload of ${n} values needs ${encodedBytes(c, n)} bytes, got ${src.byteLength}`);
  let finite = true;
  if (c === 'fp32') {
    const vals = (src.byteOffset & 3) === 0 ? new Float32Array(src.buffer, src.byteOffset, n) : new Float32Array(src.slice().buffer);
    if (mode === 'set') {
      out.set(vals);
      for (let i = 0; i < n; i++) if (vals[i]! - vals[i]! !== 0) finite = false;
    } else {
      for (let i = 0; i < n; i++) {
        const s = Math.fround(out[i]! + vals[i]!); // as stored: a sum past float32's range is caught
        out[i] = s;
        if (s - s !== 0) finite = false;
      }
    }
    return finite;
  }
  if (c === 'fp16') {
    const h = view(Uint16Array, src, 0, n, 2);
    const table = f16Table();
    for (let i = 0; i < n; i++) {
      const v = mode === 'set' ? table[h[i]!]! : Math.fround(out[i]! + table[h[i]!]!);
      out[i] = v;
      if (v - v !== 0) finite = false;
    }
    return finite;
  }
  const blocks = Math.ceil(n / INT8_BLOCK);
  const scales = view(Float32Array, src, 0, blocks, 4);
  const q = new Int8Array(src.buffer, src.byteOffset + blocks * 4, n);
  for (let b = 0; b < blocks; b++) {
    const scale = scales[b]!;
    if (!(scale >= 0 && scale < Infinity)) finite = false;
    const hi = Math.min(n, (b + 1) * INT8_BLOCK);
    if (mode === 'set') for (let i = b * INT8_BLOCK; i < hi; i++) {
      // as stored: a finite scale times 127 can still pass float32's range
      const v = Math.fround(q[i]! * scale);
      out[i] = v;
      if (v - v !== 0) finite = false;
    }
    else for (let i = b * INT8_BLOCK; i < hi; i++) {
      const s = Math.fround(out[i]! + Math.fround(q[i]! * scale));
      out[i] = s;
      if (s - s !== 0) finite = false;
    }
  }
  return finite;
}

/** Largest round-trip error |x − decode(encode(x))| the codec allows for values in a block of max |x| = `max`. */
export function errorBound(c: CodecName, max: number): number {
  if (c === 'fp32') return 0;
  if (c === 'fp16') return Math.max(max * 2 ** -11, 2 ** -25);
  return (max / 127) * 0.5 * (1 + 2 ** -20) + max * 2 ** -24;
}

/**
 * The residual of error feedback, one per worker: indexed by element of the gradient
 * vector, carried from step to step (and across ring epochs when the owner keeps it).
 */
export class ErrorFeedback {
  private r: Float32Array | null = null;
  /** the residual vector for vectors of `length` elements (zeroed when the length changes) */
  residual(length: number): Float32Array {
    if (!this.r || this.r.length !== length) this.r = new Float32Array(length);
    return this.r;
  }
  reset(): void {
    this.r = null;
  }
}
