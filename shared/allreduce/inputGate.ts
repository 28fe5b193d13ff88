/**
 * Which parts of the vector being all-reduced already hold this rank's contribution.
 *
 * Why: the ring can start before the gradient is complete. Backpropagation produces the
 * last layers' gradients first, and on GPU backends each variable's gradient is read back
 * on its own; the ring sends (and adds into) a chunk as soon as its range is ready, so the
 * network works while the rest is still being computed or read back. The result does not
 * depend on when ranges become ready: every segment is still summed in ring order.
 *
 * Contract: a range is written before it is marked, and never written again during the
 * all-reduce (the all-gather overwrites it with the sum). Ranges only grow.
 */
import { TabswarmError } from '../errors.ts';

export class InputGate {
  /** disjoint, sorted [start, end) ranges */
  private ranges: [number, number][] = [];
  private readonly listeners = new Set<() => void>();

  constructor(readonly length: number) {}

  /** Marks [off, off + len) as holding this rank's contribution and wakes the waiting ring. */
  markReady(off: number, len: number): void {
    const start = Math.max(0, off);
    const end = Math.min(this.length, off + len);
    if (end <= start) return;
    const merged: [number, number][] = [];
    let s = start;
    let e = end;
    for (const r of this.ranges) {
      if (r[1] < s || r[0] > e) merged.push(r);
      else {
        s = Math.min(s, r[0]);
        e = Math.max(e, r[1]);
      }
    }
    merged.push([s, e]);
    merged.sort((a, b) => a[0] - b[0]);
    this.ranges = merged;
    for (const l of [...this.listeners]) l();
  }

  isReady(off: number, len: number): boolean {
    if (len <= 0) return true;
    for (const r of this.ranges) if (r[0] <= off && off + len <= r[1]) return true;
    return false;
  }

  get complete(): boolean {
    return this.length === 0 || this.isReady(0, this.length);
  }

  /** Resolves once the whole vector is ready (rejects with ABORTED when `signal` aborts first). */
  whenComplete(signal?: AbortSignal): Promise<void> {
    if (this.complete) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const abort = () => {
        off();
        reject(new TabswarmError('ABORTED', 'waiting for input aborted', { cause: signal?.reason }));
      };
      const off = this.onReady(() => {
        if (!this.complete) return;
        off();
        signal?.removeEventListener('abort', abort);
        resolve();
      });
      signal?.addEventListener('abort', abort, { once: true });
    });
  }

  /** Calls `cb` after every markReady until the returned function is called. */
  onReady(cb: () => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }
}
