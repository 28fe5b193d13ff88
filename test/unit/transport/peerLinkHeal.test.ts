import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { errorCode } from '../../../shared/errors.ts';
import { PeerLink, type HealEvent, type PeerInstance, type SignalData } from '../../../shared/transport/peerLink.ts';
import { PeerMesh, type MeshSignal } from '../../../shared/transport/peerMesh.ts';

/** simple-peer 9's ICE surface, as PeerLink's healing hooks it: `_pc`, `_onIceStateChange`, `negotiate`. */
class IcePeer extends EventEmitter implements PeerInstance {
  connected = false;
  destroyed = false;
  offerOptions: Record<string, unknown> = {};
  negotiations = 0;
  restarts = 0;
  signalled: SignalData[] = [];
  _channel = { bufferedAmount: 0, bufferedAmountLowThreshold: 0 };
  _pc: { iceConnectionState: string; connectionState: string; restartIce?: () => void };

  constructor(
    readonly initiator: boolean,
    restartable = true,
  ) {
    super();
    this._pc = { iceConnectionState: 'new', connectionState: 'new' };
    if (restartable) this._pc.restartIce = () => void this.restarts++;
    else this._pc.restartIce = () => {
      throw new Error('Not implemented');
    };
  }
  open() {
    this.connected = true;
    this._pc.iceConnectionState = 'connected';
    this.emit('connect');
  }
  setIce(state: string) {
    this._pc.iceConnectionState = state;
    this._onIceStateChange();
  }
  // simple-peer 9.11.1: 'failed' destroys the peer
  _onIceStateChange() {
    if (this.destroyed) return;
    this.emit('iceStateChange', this._pc.iceConnectionState);
    if (this._pc.iceConnectionState === 'failed') this.destroy(new Error('Ice connection failed.'));
  }
  negotiate() {
    this.negotiations++;
    if (this.initiator) this.emit('signal', { type: 'offer', sdp: `restart ${this.negotiations}` });
  }
  signal(d: SignalData) {
    this.signalled.push(d);
  }
  send() {}
  destroy(err?: Error) {
    if (this.destroyed) return;
    this.destroyed = true;
    if (err) this.emit('error', err);
    this.emit('close');
  }
}

describe('PeerLink heals a lost ICE connection before dropping it', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('disconnected, then connected again within healMs: the initiator restarted ICE, the link stays open', () => {
    const p = new IcePeer(true);
    const events: HealEvent[] = [];
    const link = new PeerLink('b', p, { healMs: 5000, onHeal: (e) => events.push(e) });
    p.open();
    p.setIce('disconnected');
    expect(link.healing).toBe(true);
    expect(p.restarts).toBe(1);
    expect(p.negotiations).toBe(1);
    expect(p.offerOptions.iceRestart).toBe(true);
    vi.advanceTimersByTime(2000);
    p.setIce('connected');
    expect(link.healing).toBe(false);
    expect(link.closed).toBe(false);
    expect(link.heals).toBe(1);
    vi.advanceTimersByTime(10_000);
    expect(link.closed).toBe(false);
    expect(events.map((e) => e.kind)).toEqual(['lost', 'healed']);
    expect(events[0]).toMatchObject({ state: 'ICE disconnected', restart: 'sent' });
  });

  it('failed is held back from simple-peer while healing: the peer is not destroyed, and heals', () => {
    const p = new IcePeer(false);
    const link = new PeerLink('a', p, { healMs: 5000 });
    p.open();
    p.setIce('failed');
    expect(p.destroyed).toBe(false);
    expect(p.negotiations).toBe(0); // the responder waits for the initiator's restart offer
    p.setIce('checking');
    p.setIce('connected');
    expect(link.closed).toBe(false);
    expect(link.heals).toBe(1);
  });

  it('not restored within healMs: closes with LINK_FAILED saying so', () => {
    const p = new IcePeer(true);
    const link = new PeerLink('b', p, { healMs: 3000 });
    let err: Error | undefined;
    link.onClose((e) => (err = e));
    p.open();
    p.setIce('failed');
    vi.advanceTimersByTime(2999);
    expect(link.closed).toBe(false);
    vi.advanceTimersByTime(1);
    expect(link.closed).toBe(true);
    expect(errorCode(err)).toBe('LINK_FAILED');
    expect(err!.message).toMatch(/lost \(ICE failed\) and not restored within 3000 ms/);
    expect(p.destroyed).toBe(true);
  });

  it('where restartIce() is not implemented (node-datachannel) it still waits, then closes', () => {
    const p = new IcePeer(true, false);
    const events: HealEvent[] = [];
    const link = new PeerLink('b', p, { healMs: 1000, onHeal: (e) => events.push(e) });
    p.open();
    p.setIce('disconnected');
    expect(events[0]).toMatchObject({ kind: 'lost', restart: 'unsupported' });
    vi.advanceTimersByTime(1000);
    expect(link.closed).toBe(true);
    expect(events.map((e) => e.kind)).toEqual(['lost', 'gave-up']);
  });

  it('queued data that does not move for stallMs is a lost path too (node-datachannel shows no ICE change)', () => {
    const p = new IcePeer(true);
    const events: HealEvent[] = [];
    const link = new PeerLink('b', p, { healMs: 5000, stallMs: 2000, onHeal: (e) => events.push(e) });
    p.open();
    link.send(new Uint8Array(100_000));
    p._channel.bufferedAmount = 100_000;
    vi.advanceTimersByTime(2600);
    expect(link.healing).toBe(true);
    // the initiator restarts ICE for a stall too (Chromium may show no ICE change either)
    expect(events[0]).toMatchObject({ kind: 'lost', restart: 'sent' });
    p._channel.bufferedAmount = 50_000; // it moves again
    vi.advanceTimersByTime(600);
    expect(link.healing).toBe(false);
    expect(link.heals).toBe(1);
    p._channel.bufferedAmount = 50_000; // and stops for good
    vi.advanceTimersByTime(2600 + 5000);
    expect(link.closed).toBe(true);
    expect(events.map((e) => e.kind)).toEqual(['lost', 'healed', 'lost', 'gave-up']);
  });

  it('a stall while ICE still says connected is not healed by a state event that stays connected', () => {
    const p = new IcePeer(true);
    const events: HealEvent[] = [];
    const link = new PeerLink('b', p, { healMs: 5000, stallMs: 2000, onHeal: (e) => events.push(e) });
    p.open();
    link.send(new Uint8Array(100_000));
    p._channel.bufferedAmount = 100_000;
    vi.advanceTimersByTime(2600);
    expect(events[0]).toMatchObject({ kind: 'lost', restart: 'sent' });
    p.setIce('connected'); // the restart fires an event; the state never left connected
    expect(link.healing).toBe(true);
    p.setIce('checking');
    p.setIce('connected'); // the restarted ICE session is up
    expect(link.healing).toBe(false);
    expect(events.map((e) => e.kind)).toEqual(['lost', 'healed']);
  });

  it('healMs 0: failed closes at once, as before', () => {
    const p = new IcePeer(true);
    const link = new PeerLink('b', p, { healMs: 0 });
    let err: Error | undefined;
    link.onClose((e) => (err = e));
    p.open();
    p.setIce('failed');
    expect(link.closed).toBe(true);
    expect(errorCode(err)).toBe('LINK_FAILED');
  });
});

describe('PeerMesh carries an ICE restart over the open connection', () => {
  it('the initiator’s restart offer is marked and the responder feeds it to the same peer', async () => {
    const made: IcePeer[] = [];
    const sentByA: MeshSignal[] = [];
    const a = new PeerMesh({ localId: 'a', createPeer: ({ initiator }) => (made.push(new IcePeer(initiator)), made[made.length - 1]!), sendSignal: (_to, d) => sentByA.push(d), linkOptions: { healMs: 5000 } });
    const b = new PeerMesh({ localId: 'b', createPeer: ({ initiator }) => (made.push(new IcePeer(initiator)), made[made.length - 1]!), sendSignal: () => {}, linkOptions: { healMs: 5000 } });
    const la = a.connect('b');
    const pa = made[0]!;
    b.handleSignal('a', { cid: 7, payload: { type: 'offer', sdp: 'first' } });
    const pb = made[1]!;
    const lb = b.connect('a');
    pa.open();
    pb.open();
    const [linkA, linkB] = await Promise.all([la, lb]);
    pa.setIce('disconnected'); // a initiates: it restarts ICE with a new offer
    const restartOffer = sentByA[sentByA.length - 1]!;
    expect(restartOffer).toMatchObject({ restart: true, payload: { type: 'offer', sdp: 'restart 1' } });
    b.handleSignal('a', JSON.parse(JSON.stringify({ ...restartOffer, cid: 7 })));
    expect(pb.signalled.map((s) => s.sdp)).toEqual(['first', 'restart 1']);
    expect(made.length).toBe(2);
    expect(linkB.closed).toBe(false);
    // without the mark, a second offer under the same id is a restarted initiator: a new connection
    b.handleSignal('a', { cid: 7, payload: { type: 'offer', sdp: 'again' } });
    expect(linkB.closed).toBe(true);
    expect(made.length).toBe(3);
    a.destroy();
    b.destroy();
    expect(linkA.closed).toBe(true);
  });
});
