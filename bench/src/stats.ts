/** Small statistics helpers for benchmark figures. */
import { algBandwidth, busBandwidth } from '../../shared/allreduce/bandwidth.ts';

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

/** nccl-tests' figures (shared/allreduce/bandwidth.ts) in MB/s (MB = 1e6 bytes). */
export function bandwidth(bytes: number, ms: number, n: number): { algbwMBs: number; busbwMBs: number } {
  return { algbwMBs: algBandwidth(bytes, ms) / 1e6, busbwMBs: busBandwidth(bytes, ms, n) / 1e6 };
}
