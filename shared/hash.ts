/**
 * A fast 64-bit (two independent 32-bit lanes) hash of a Float32Array's bits.
 * Replicas compare these to prove they hold bit-identical vectors; it is not
 * cryptographic (a dishonest peer is caught by disagreement, not by preimage resistance).
 */
export function hashFloat32(v: Float32Array): string {
  const words = new Uint32Array(v.buffer, v.byteOffset, v.length);
  let h1 = 0x811c9dc5 ^ v.length;
  let h2 = 0x9e3779b9 ^ Math.imul(v.length, 0x85ebca6b);
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    h1 = Math.imul(h1 ^ w, 0x01000193);
    h2 = Math.imul(h2 ^ (w >>> 16) ^ (w << 16), 0x5bd1e995);
    h2 ^= h2 >>> 15;
  }
  h1 ^= h1 >>> 16;
  h1 = Math.imul(h1, 0x85ebca6b);
  h1 ^= h1 >>> 13;
  return (h1 >>> 0).toString(16).padStart(8, '0') + (h2 >>> 0).toString(16).padStart(8, '0');
}

/** 32-bit FNV-1a of a string (job ids become the frame header's job tag). */
export function hashString32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
