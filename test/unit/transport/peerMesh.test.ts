import { afterEach, describe, expect, it } from 'vitest';
import type { Link } from '../../../shared/allreduce/link.ts';
import { PeerMesh, type MeshSignal } from '../../../shared/transport/peerMesh.ts';
import { FakeNetwork, type FakePeer } from './fakePeer.ts';

/** Meshes on a FakeNetwork; signals travel asynchronously and as JSON, like over socket.io. */
class Swarm {
  net = new FakeNetwork();
  meshes = new Map<string, PeerMesh>();
  dropped: string[] = [];
  /** ids whose outgoing signals are lost */
  mute = new Set<string>();
  log: { from: string; to: string; data: MeshSignal }[] = [];

  add(id: string, opts: { timeoutMs?: number; maxAttempts?: number; firstCid?: number } = {}): PeerMesh {
    const m = new PeerMesh({
      localId: id,
      createPeer: this.net.factory(),
      timeoutMs: opts.timeoutMs ?? 5_000,
      maxAttempts: opts.maxAttempts,
      firstCid: opts.firstCid,
      onDroppedSignal: (from, reason) => this.dropped.push(`${id}<-${from}: ${reason}`),
      sendSignal: (to, data) => {
        this.log.push({ from: id, to, data });
        if (this.mute.has(id)) return;
        const wire: unknown = JSON.parse(JSON.stringify(data));
        setImmediate(() => this.meshes.get(to)?.handleSignal(id, wire));
      },
    });
    this.meshes.set(id, m);
    return m;
  }

  destroy() {
    for (const m of this.meshes.values()) m.destroy();
  }
}

function nextMessage(l: Link): Promise<Uint8Array> {
  return new Promise((r) => {
    const off = l.onMessage((d) => {
      off();
      r(d);
    });
  });
}

function closedPromise(l: Link): Promise<Error | undefined> {
  return new Promise((r) => (l.closed ? r(undefined) : l.onClose(r)));
}

const swarms: Swarm[] = [];
function swarm() {
  const s = new Swarm();
  swarms.push(s);
  return s;
}
afterEach(() => {
  for (const s of swarms.splice(0)) s.destroy();
});

describe('PeerMesh', () => {
  it('makes exactly one connection per pair, initiated by the lower id, and links carry data both ways', async () => {
    const s = swarm();
    const a = s.add('a');
    const b = s.add('b');
    const [ab, ba] = await Promise.all([b.connect('a'), a.connect('b')]).then(([x, y]) => [y, x] as const);
    expect(s.net.created.length).toBe(2);
    expect(s.net.created.filter((p) => p.initiator).length).toBe(1);
    expect(s.log.some((m) => m.from === 'b' && 'payload' in m.data && m.data.payload.type === 'offer')).toBe(false);
    expect(ab.remoteId).toBe('b');
    expect(ba.remoteId).toBe('a');
    const toB = nextMessage(ba);
    ab.send(Uint8Array.of(1, 2));
    expect([...(await toB)]).toEqual([1, 2]);
    const toA = nextMessage(ab);
    ba.send(Uint8Array.of(3));
    expect([...(await toA)]).toEqual([3]);
    // reused while open
    expect(await a.connect('b')).toBe(ab);
    expect(s.net.created.length).toBe(2);
    expect(a.get('b')).toBe(ab);
    expect(a.openPeers()).toEqual(['b']);
  });

  it('accepts an incoming connection before the local connect(), which then returns it', async () => {
    const s = swarm();
    const a = s.add('a');
    const b = s.add('b');
    const ab = await a.connect('b');
    // b never asked, yet the link is open on its side too
    const ba = await b.connect('a');
    expect(s.net.created.length).toBe(2);
    const got = nextMessage(ba);
    ab.send(Uint8Array.of(7));
    expect([...(await got)]).toEqual([7]);
  });

  it('drops an incoming connection that nobody claims and that does not open in time', async () => {
    const s = swarm();
    const a = s.add('a');
    s.add('b', { timeoutMs: 30 });
    s.mute.add('b'); // b's answer is lost: its side never opens
    const pending = a.connect('b', { timeoutMs: 5_000 });
    pending.catch(() => {});
    const responder = await new Promise<FakePeer>((r) => {
      const check = () => {
        const p = s.net.created.find((q) => !q.initiator);
        if (p) r(p);
        else setImmediate(check);
      };
      check();
    });
    await new Promise<void>((r) => responder.on('close', () => r()));
    expect(responder.destroyed).toBe(true);
    expect(s.log.some((m) => m.from === 'b' && 'failed' in m.data && /unclaimed incoming WebRTC connection from a to b timed out after 30 ms/.test(m.data.failed))).toBe(true);
    a.destroy();
    await expect(pending).rejects.toMatchObject({ code: 'ABORTED' });
  });

  it('retries an attempt that fails before opening, ignoring the stale attempt\'s signals', async () => {
    const s = swarm();
    s.net.failNextAnswers = 1;
    const a = s.add('a');
    const b = s.add('b');
    const [ab, ba] = await Promise.all([a.connect('b'), b.connect('a')]);
    expect(s.net.created.filter((p) => p.initiator).length).toBe(2);
    const cids = new Set(s.log.filter((m) => m.from === 'a').map((m) => m.data.cid));
    expect(cids.size).toBe(2);
    expect(s.log.some((m) => m.from === 'a' && 'failed' in m.data)).toBe(true);
    const got = nextMessage(ba);
    ab.send(Uint8Array.of(5));
    expect([...(await got)]).toEqual([5]);
  });

  it('gives up after maxAttempts failures in a row with LINK_FAILED', async () => {
    const s = swarm();
    s.net.failNextAnswers = 2;
    const a = s.add('a', { maxAttempts: 2 });
    s.add('b');
    await expect(a.connect('b')).rejects.toMatchObject({ code: 'LINK_FAILED', message: expect.stringMatching(/closed before it opened/) });
    expect(a.get('b')).toBeUndefined();
  });

  it('times out saying what timed out, on either side, and frees the attempt', async () => {
    const s = swarm();
    const a = s.add('a');
    s.add('b');
    s.mute.add('b'); // b's answers get lost
    await expect(a.connect('b', { timeoutMs: 50 })).rejects.toThrow(
      /^TIMEOUT: WebRTC connection from a to peer b \(offered connection \d+, data channel not open\) timed out after 50 ms$/,
    );
    const initiatorPeer = s.net.created.find((p) => p.initiator)!;
    expect(initiatorPeer.destroyed).toBe(true);
    const z = s.add('z');
    await expect(z.connect('c', { timeoutMs: 30 })).rejects.toThrow(/^TIMEOUT: WebRTC connection from z to peer c \(no offer received from c\) timed out after 30 ms$/);
  });

  it('aborts a pending connect() through its AbortSignal', async () => {
    const s = swarm();
    const b = s.add('b');
    const ac = new AbortController();
    const p = b.connect('a', { signal: ac.signal });
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: 'ABORTED' });
  });

  it('retain() closes links to peers left out (the other side sees it) and keeps the rest', async () => {
    const s = swarm();
    const [a, b, c] = ['a', 'b', 'c'].map((id) => s.add(id)) as [PeerMesh, PeerMesh, PeerMesh];
    const [ab, ac] = await Promise.all([a.connect('b'), a.connect('c'), b.connect('a'), c.connect('a')]);
    const ca = c.get('a')!;
    const caClosed = closedPromise(ca);
    a.retain(['b', 'x']);
    expect(ac.closed).toBe(true);
    expect(ab.closed).toBe(false);
    await caClosed;
    expect(c.get('a')).toBeUndefined();
    // a new connection when wanted again
    const [ac2] = await Promise.all([a.connect('c'), c.connect('a')]);
    expect(ac2).not.toBe(ac);
    expect(ac2.closed).toBe(false);
  });

  for (const [label, second] of [['a newer', 200], ["a restarted initiator's (same id)", 100]] as const) {
    it(`${label} offer replaces the connection the responder still holds`, async () => {
      const s = swarm();
      const aOld = s.add('a', { firstCid: 100 });
      const b = s.add('b');
      const [, ba] = await Promise.all([aOld.connect('b'), b.connect('a')]);
      // a restarts (same id, fresh mesh) without its old connection closing: b still holds it
      const a2 = s.add('a', { firstCid: second });
      const baClosed = closedPromise(ba);
      const a2b = await a2.connect('b');
      expect(await baClosed).toMatchObject({ code: 'LINK_CLOSED', message: expect.stringMatching(/replaced by connection/) });
      const ba2 = await b.connect('a');
      expect(ba2).not.toBe(ba);
      aOld.destroy();
      const got = nextMessage(ba2);
      a2b.send(Uint8Array.of(42));
      expect([...(await got)]).toEqual([42]);
    });
  }

  it('drops malformed, misdirected and stale signals, saying why', async () => {
    const s = swarm();
    const a = s.add('a');
    const b = s.add('b');
    await Promise.all([a.connect('b'), b.connect('a')]);
    a.handleSignal('b', 'nonsense');
    a.handleSignal('b', { cid: 1, payload: { type: 'pwn' } });
    a.handleSignal('b', { cid: 1, payload: { type: 'offer', sdp: 'x' } }); // b never initiates toward a
    b.handleSignal('a', { cid: 1, payload: { type: 'answer', sdp: 'x' } }); // a never answers b
    b.handleSignal('a', { cid: 1, payload: { type: 'candidate', candidate: {} } }); // older attempt
    expect(s.dropped).toEqual([
      'a<-b: malformed signal',
      'a<-b: malformed signal',
      'a<-b: offer from b, which does not initiate toward a',
      'b<-a: answer from a, which initiates toward b',
      expect.stringMatching(/^b<-a: signal for connection 1, older than \d+$/),
    ]);
    expect(a.get('b')!.closed).toBe(false);
  });

  it('destroy() is idempotent, closes links, rejects pending and later connect() calls', async () => {
    const s = swarm();
    const a = s.add('a');
    const b = s.add('b');
    const [ab] = await Promise.all([a.connect('b'), b.connect('a')]);
    const pending = a.connect('q');
    a.destroy();
    a.destroy();
    expect(a.destroyed).toBe(true);
    expect(ab.closed).toBe(true);
    await expect(pending).rejects.toMatchObject({ code: 'ABORTED' });
    await expect(a.connect('b')).rejects.toMatchObject({ code: 'ABORTED' });
    await expect(b.connect('b')).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });
});
