/** Small statistics helpers for benchmark figures. */
export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export function mean(xs: number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}

/** nccl-tests' figures for an all-reduce of `bytes` in `ms` over `n` ranks (MB = 1e6 bytes). */
export function bandwidth(bytes: number, ms: number, n: number): { algbwMBs: number; busbwMBs: number } {
  const algbwMBs = bytes / 1e6 / (ms / 1000);
  return { algbwMBs, busbwMBs: (algbwMBs * 2 * (n - 1)) / n };
}
