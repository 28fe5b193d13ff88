/**
 * Stand-ins for simple-peer in unit tests (no WebRTC): a FakePeer driven by hand, and a
 * FakeNetwork whose peers pair up through the signals they exchange, like simple-peer's do.
 */
import { EventEmitter } from 'node:events';
import type { PeerFactory, PeerInstance, SignalData } from '../../../shared/transport/peerLink.ts';

/** An RTCDataChannel's backpressure surface; `events: false` models one whose event never fires. */
export class FakeChannel {
  bufferedAmount = 0;
  bufferedAmountLowThreshold = 0;
  private lows = new Set<() => void>();
  readonly addEventListener?: (type: 'bufferedamountlow', cb: () => void) => void;
  readonly removeEventListener?: (type: 'bufferedamountlow', cb: () => void) => void;

  constructor(events = true) {
    if (events) {
      this.addEventListener = (_t, cb) => void this.lows.add(cb);
      this.removeEventListener = (_t, cb) => void this.lows.delete(cb);
    }
  }

  get listeners(): number {
    return this.lows.size;
  }

  /** The network takes bytes: bufferedAmount falls to `n`, firing the event on crossing the threshold. */
  drainTo(n: number) {
    const before = this.bufferedAmount;
    this.bufferedAmount = n;
    if (before > this.bufferedAmountLowThreshold && n <= this.bufferedAmountLowThreshold) for (const cb of [...this.lows]) cb();
  }
}

export class FakePeer extends EventEmitter implements PeerInstance {
  connected = false;
  destroyed = false;
  _channel: FakeChannel | null = null;
  sent: Uint8Array[] = [];
  signalled: SignalData[] = [];
  remote: FakePeer | null = null;
  token = '';
  /** make send() throw */
  sendError: Error | null = null;

  constructor(
    readonly initiator: boolean,
    private readonly net: FakeNetwork | null = null,
    private readonly channelEvents = true,
  ) {
    super();
    if (initiator && net) {
      this.token = net.newToken(this);
      queueMicrotask(() => {
        if (this.destroyed) return;
        // simple-peer on node-datachannel emits a candidate before the offer
        this.emit('signal', { type: 'candidate', candidate: { candidate: `cand ${this.token}`, sdpMid: '0' } });
        this.emit('signal', { type: 'offer', sdp: this.token });
      });
    }
  }

  open() {
    if (this.destroyed || this.connected) return;
    this._channel = new FakeChannel(this.channelEvents);
    this.connected = true;
    this.emit('connect');
  }

  /** a message arrives, as simple-peer hands it out: a Node Buffer */
  receive(bytes: Uint8Array) {
    this.emit('data', Buffer.from(bytes));
  }

  signal(data: SignalData): void {
    if (this.destroyed) throw new Error('cannot signal after peer is destroyed');
    this.signalled.push(data);
    const net = this.net;
    if (!net) return;
    if (!this.initiator && data.type === 'offer') {
      const offerer = net.peers.get(data.sdp ?? '');
      if (!offerer) return this.destroy(new Error(`unknown offer ${data.sdp}`));
      this.remote = offerer;
      this.token = `${data.sdp}/answer`;
      queueMicrotask(() => this.destroyed || this.emit('signal', { type: 'answer', sdp: this.token }));
    } else if (this.initiator && data.type === 'answer') {
      if (net.failNextAnswers > 0) {
        net.failNextAnswers--;
        return this.destroy(new Error('simulated failure applying the answer'));
      }
      const answerer = [...net.created].find((p) => p.token === data.sdp && !p.initiator);
      if (!answerer) return this.destroy(new Error(`unknown answer ${data.sdp}`));
      this.remote = answerer;
      setImmediate(() => {
        this.open();
        answerer.open();
      });
    } else if (data.type !== 'candidate') {
      this.destroy(new Error(`unexpected signal ${data.type}`));
    }
  }

  send(data: Uint8Array): void {
    if (this.sendError) throw this.sendError;
    if (!this.connected) throw new Error('not connected');
    this.sent.push(data.slice());
    const to = this.remote;
    const copy = data.slice();
    if (to) setImmediate(() => to.connected && to.receive(copy));
  }

  destroy(err?: Error): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.connected = false;
    this._channel = null;
    queueMicrotask(() => {
      if (err) this.emit('error', err);
      this.emit('close');
    });
    const r = this.remote;
    if (r) setImmediate(() => r.destroy());
  }
}

export class FakeNetwork {
  peers = new Map<string, FakePeer>();
  created: FakePeer[] = [];
  /** the next N initiators fail when the answer arrives (like libdatachannel's rare race) */
  failNextAnswers = 0;
  private n = 0;

  newToken(p: FakePeer): string {
    const t = `offer-${++this.n}`;
    this.peers.set(t, p);
    return t;
  }

  factory(): PeerFactory {
    return ({ initiator }) => {
      const p = new FakePeer(initiator, this);
      this.created.push(p);
      return p;
    };
  }
}
