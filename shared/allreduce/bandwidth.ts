/**
 * nccl-tests' figures of an all-reduce of `bytes` in `ms` over `members` ranks, in bytes per
 * second: algbw = bytes / time, busbw = algbw · 2(N−1)/N (what each link carried in a ring).
 * Both are 0 for a non-positive time; busbw is 0 for a one-member ring, which moves nothing.
 */
import { EXTRA_SLOTS } from '../replica.ts';

/** Bytes one all-reduce moves per rank's vector: the parameters' gradient and the loss/accuracy slots, float32. */
export function ringVectorBytes(paramCount: number): number {
  return (paramCount + EXTRA_SLOTS) * 4;
}

export function algBandwidth(bytes: number, ms: number): number {
  return ms > 0 ? bytes / (ms / 1000) : 0;
}

export function busBandwidth(bytes: number, ms: number, members: number): number {
  return members < 2 ? 0 : algBandwidth(bytes, ms) * ((2 * (members - 1)) / members);
}
