import { afterEach, describe, expect, it, vi } from 'vitest';
import { errorCode } from '../../../shared/errors.ts';
import { PeerLink } from '../../../shared/transport/peerLink.ts';
import { FakePeer } from './fakePeer.ts';

/** Lets queued microtasks (and the promise reactions they trigger) run. */
async function settle() {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

function track<T>(p: Promise<T>) {
  const s = { done: false, error: null as unknown };
  p.then(
    () => (s.done = true),
    (e) => (s.error = e),
  );
  return s;
}

function openLink(opts: { events?: boolean; drainPollMs?: number; maxUnclaimedBytes?: number } = {}) {
  const peer = new FakePeer(true, null, opts.events ?? true);
  const link = new PeerLink('remote', peer, { drainPollMs: opts.drainPollMs, maxUnclaimedBytes: opts.maxUnclaimedBytes });
  peer.open();
  return { peer, link, ch: peer._channel! };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('PeerLink over a simple-peer instance', () => {
  it('opens on connect; send before that is refused, and opened rejects if it closes first', async () => {
    const peer = new FakePeer(true);
    const link = new PeerLink('r', peer);
    expect(link.isOpen).toBe(false);
    expect(() => link.send(Uint8Array.of(1))).toThrow(/not open yet/);
    peer.open();
    await link.opened;
    expect(link.isOpen).toBe(true);

    const p2 = new FakePeer(true);
    const l2 = new PeerLink('r2', p2);
    p2.destroy();
    await expect(l2.opened).rejects.toMatchObject({ code: 'LINK_CLOSED' });
    expect(l2.closed).toBe(true);
  });

  it('hands out received Buffers as plain Uint8Array views with the same bytes', () => {
    const { peer, link } = openLink();
    const got: Uint8Array[] = [];
    link.onMessage((d) => got.push(d));
    peer.receive(Uint8Array.of(1, 2, 3));
    expect(got.length).toBe(1);
    expect(Object.getPrototypeOf(got[0])).toBe(Uint8Array.prototype);
    expect([...got[0]!]).toEqual([1, 2, 3]);
  });

  it('keeps messages that arrive while nobody listens and delivers them, in order, to the next listener', async () => {
    const { peer, link } = openLink();
    peer.receive(Uint8Array.of(1));
    peer.receive(Uint8Array.of(2));
    const got: number[] = [];
    link.onMessage((d) => got.push(d[0]!));
    expect(got).toEqual([]); // not re-entrantly inside onMessage()
    peer.receive(Uint8Array.of(3)); // arrives while the flush is pending: queued behind 1 and 2
    await settle();
    expect(got).toEqual([1, 2, 3]);
    peer.receive(Uint8Array.of(4));
    expect(got).toEqual([1, 2, 3, 4]);
  });

  it('fails the link when too much arrives with nobody listening', () => {
    const { peer, link } = openLink({ maxUnclaimedBytes: 10 });
    const errs: (Error | undefined)[] = [];
    link.onClose((e) => errs.push(e));
    peer.receive(new Uint8Array(6));
    expect(link.closed).toBe(false);
    peer.receive(new Uint8Array(6));
    expect(link.closed).toBe(true);
    expect(errorCode(errs[0])).toBe('LINK_FAILED');
    expect(peer.destroyed).toBe(true);
  });

  it('reports the data channel bufferedAmount', () => {
    const { link, ch } = openLink();
    ch.bufferedAmount = 12345;
    expect(link.bufferedAmount).toBe(12345);
  });

  it('drained() wakes on bufferedamountlow, arming the threshold at the highest waiting mark', async () => {
    const { link, ch } = openLink({ drainPollMs: 1e9 }); // the poll never runs here
    ch.bufferedAmount = 1000;
    const a = track(link.drained(100));
    const b = track(link.drained(500));
    expect(ch.bufferedAmountLowThreshold).toBe(500);
    ch.drainTo(400);
    await settle();
    expect(b.done).toBe(true);
    expect(a.done).toBe(false);
    expect(ch.bufferedAmountLowThreshold).toBe(100); // re-armed for the one still waiting
    ch.drainTo(100);
    await settle();
    expect(a.done).toBe(true);
    await expect(link.drained(100)).resolves.toBeUndefined(); // already low: no wait
  });

  it('drained() falls back to polling when the event never fires', async () => {
    vi.useFakeTimers();
    const { link, ch } = openLink({ events: false, drainPollMs: 20 });
    ch.bufferedAmount = 1000;
    const w = track(link.drained(0));
    ch.bufferedAmount = 0; // no event
    await settle();
    expect(w.done).toBe(false);
    await vi.advanceTimersByTimeAsync(20);
    expect(w.done).toBe(true);
    expect(vi.getTimerCount()).toBe(0); // the poll stops when nobody waits
  });

  it('close rejects pending drained() with LINK_CLOSED, tells onClose once, and destroys the peer', async () => {
    const { peer, link, ch } = openLink();
    ch.bufferedAmount = 1000;
    const w = link.drained(0);
    const errs: (Error | undefined)[] = [];
    link.onClose((e) => errs.push(e));
    const why = new Error('done');
    link.close(why);
    link.close(new Error('again'));
    await expect(w).rejects.toMatchObject({ code: 'LINK_CLOSED' });
    expect(errs).toEqual([why]);
    expect(peer.destroyed).toBe(true);
    expect(ch.listeners).toBe(0);
    expect(() => link.send(Uint8Array.of(1))).toThrow(/LINK_CLOSED/);
    await settle(); // the peer's own 'close' event comes after: ignored
    expect(errs.length).toBe(1);
  });

  it('closes with LINK_CLOSED when the remote side closes, and LINK_FAILED on a peer error', async () => {
    const a = openLink();
    const errA: (Error | undefined)[] = [];
    a.link.onClose((e) => errA.push(e));
    a.peer.destroy(); // what simple-peer does when the channel closes under it
    await settle();
    expect(errorCode(errA[0])).toBe('LINK_CLOSED');

    const b = openLink();
    const errB: (Error | undefined)[] = [];
    b.link.onClose((e) => errB.push(e));
    b.peer.destroy(new Error('Ice connection failed.'));
    await settle();
    expect(errB.length).toBe(1);
    expect(errorCode(errB[0])).toBe('LINK_FAILED');
    expect(errB[0]!.message).toMatch(/Ice connection failed/);
  });

  it('a send the channel refuses fails the link with LINK_FAILED', () => {
    const { peer, link } = openLink();
    peer.sendError = new Error('RTCDataChannel.readyState is not open');
    let thrown: unknown = null;
    try {
      link.send(Uint8Array.of(1));
    } catch (e) {
      thrown = e;
    }
    expect(errorCode(thrown)).toBe('LINK_FAILED');
    expect(link.closed).toBe(true);
  });
});
