/** An in-memory Link pair, for unit tests of the pure ring algorithm only. */
import { TabswarmError } from '../errors.ts';
import type { Link } from './link.ts';

class MemoryLink implements Link {
  other!: MemoryLink;
  closed = false;
  private msgCbs = new Set<(d: Uint8Array) => void>();
  private closeCbs = new Set<(e?: Error) => void>();
  constructor(readonly remoteId: string) {}
  get bufferedAmount() {
    return 0;
  }
  send(data: Uint8Array) {
    if (this.closed) throw new TabswarmError('LINK_CLOSED', `link to ${this.remoteId} is closed`);
    const copy = data.slice();
    const target = this.other;
    queueMicrotask(() => {
      if (!target.closed) for (const cb of target.msgCbs) cb(copy);
    });
  }
  drained() {
    return this.closed ? Promise.reject(new TabswarmError('LINK_CLOSED', 'link closed')) : Promise.resolve();
  }
  onMessage(cb: (d: Uint8Array) => void) {
    this.msgCbs.add(cb);
    return () => this.msgCbs.delete(cb);
  }
  onClose(cb: (e?: Error) => void) {
    this.closeCbs.add(cb);
    return () => this.closeCbs.delete(cb);
  }
  close(err?: Error) {
    if (this.closed) return;
    this.closed = true;
    for (const cb of this.closeCbs) cb(err);
    this.other.close(err);
  }
}

export function memoryLinkPair(aId: string, bId: string): [Link, Link] {
  const a = new MemoryLink(bId);
  const b = new MemoryLink(aId);
  a.other = b;
  b.other = a;
  return [a, b];
}
