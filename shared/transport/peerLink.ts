/**
 * Adapts one simple-peer connection (browser RTCDataChannel, or node-datachannel's polyfill in
 * Node) to the `Link` interface the ring all-reduce runs over.
 *
 * Isomorphic: no DOM-only and no Node-only imports. The SimplePeer constructor and the WebRTC
 * implementation are injected (see `simplePeerFactory`); browsers pass the constructor from
 * `simple-peer/simplepeer.min.js`, Node passes `simple-peer` with node-datachannel's polyfill
 * (`./nodePeer.ts`).
 *
 * Semantics beyond `Link`:
 * - messages are binary (Uint8Array); received ones are plain Uint8Array views, never Node
 *   Buffers (whose `slice()` aliases memory instead of copying);
 * - messages that arrive while nobody listens (before the first `onMessage`, or between an
 *   owner unsubscribing and the next subscribing) are kept, in order, and handed to the next
 *   subscriber; past `maxUnclaimedBytes` the link fails rather than grow without bound;
 * - `drained(lowWater)` uses the data channel's `bufferedAmountLowThreshold` and
 *   `bufferedamountlow` event, with a poll as a safety net, and rejects when the link closes.
 */
import { TabswarmError } from '../errors.ts';
import type { Link } from '../allreduce/link.ts';

/** What simple-peer emits on 'signal' and accepts in `signal()`: an opaque, JSON-safe object. */
export interface SignalData {
  type: string;
  sdp?: string;
  candidate?: unknown;
  renegotiate?: boolean;
  transceiverRequest?: unknown;
}

/** The part of a simple-peer 9 instance (or @thaunknown/simple-peer 10) this module uses. */
export interface PeerInstance {
  signal(data: SignalData): void;
  send(data: Uint8Array): void;
  destroy(err?: Error): void;
  on(event: 'signal', cb: (data: SignalData) => void): unknown;
  on(event: 'connect' | 'close', cb: () => void): unknown;
  on(event: 'data', cb: (data: Uint8Array | string) => void): unknown;
  on(event: 'error', cb: (err: Error) => void): unknown;
  readonly connected: boolean;
  readonly destroyed: boolean;
}

/** The WebRTC classes simple-peer needs when the global ones are absent (Node). */
export interface WrtcImpl {
  RTCPeerConnection: unknown;
  RTCSessionDescription: unknown;
  RTCIceCandidate: unknown;
}

/** Options this project passes to the SimplePeer constructor. */
export interface SimplePeerOptions {
  initiator: boolean;
  /** RTCPeerConnection configuration; node-datachannel also reads `bindAddress` etc. from it */
  config?: RTCConfiguration & Record<string, unknown>;
  channelConfig?: RTCDataChannelInit;
  wrtc?: WrtcImpl;
  trickle?: boolean;
}

export type SimplePeerConstructor = new (opts: SimplePeerOptions) => PeerInstance;

/** Creates one connection's peer; `initiator` is decided by the mesh. */
export type PeerFactory = (opts: { initiator: boolean }) => PeerInstance;

/**
 * A PeerFactory from an injected SimplePeer constructor. `config.iceServers` defaults to []:
 * simple-peer's own default is Google's and Twilio's STUN servers, which must never be used
 * silently; production passes its configured servers.
 */
export function simplePeerFactory(
  SimplePeer: SimplePeerConstructor,
  base: Omit<SimplePeerOptions, 'initiator'> = {},
): PeerFactory {
  return ({ initiator }) =>
    new SimplePeer({ ...base, initiator, config: { iceServers: [], ...base.config } });
}

/** The slice of RTCDataChannel used for backpressure. */
interface ChannelLike {
  readonly bufferedAmount: number;
  bufferedAmountLowThreshold: number;
  addEventListener?(type: 'bufferedamountlow', cb: () => void): void;
  removeEventListener?(type: 'bufferedamountlow', cb: () => void): void;
}

function channelOf(peer: PeerInstance): ChannelLike | null {
  // simple-peer keeps its RTCDataChannel in the undocumented `_channel` field: null before
  // the channel exists (responder before 'datachannel') and after destroy.
  return (peer as unknown as { _channel?: ChannelLike | null })._channel ?? null;
}

/** The slice of RTCPeerConnection (simple-peer's `_pc`) that healing uses. */
interface HealablePc {
  readonly iceConnectionState?: string;
  readonly connectionState?: string;
  restartIce?: () => void;
}

/** simple-peer 9's internals that healing hooks (undocumented; pinned version 9.11.1). */
interface SimplePeerInternals {
  _pc?: HealablePc | null;
  initiator?: boolean;
  offerOptions?: Record<string, unknown>;
  negotiate?: () => void;
  _onIceStateChange?: () => void;
  _onConnectionStateChange?: () => void;
}

export interface PeerLinkOptions {
  /**
   * An open link whose ICE connection goes `disconnected` or `failed` heals before it is
   * dropped: the initiating side restarts ICE (`restartIce()` and a new offer, through the
   * same signaling), both sides wait up to `healMs` for ICE to be connected again, and only
   * then close with LINK_FAILED. 0: close at once on `failed` (simple-peer's own behaviour).
   * Default 5000.
   */
  healMs?: number;
  /**
   * Data queued on the channel that does not move for `stallMs` counts as a lost connection
   * too (healing starts; the buffer moving again ends it). This is how a lost path shows on
   * node-datachannel, which reports no ICE state change for many seconds, and on Chromium
   * after a cable is pulled. 0: off. Default
   * 4000 (while healMs > 0).
   */
  stallMs?: number;
  /** told when healing starts and how it ends */
  onHeal?: (e: HealEvent) => void;
  /** safety-net poll for drained() when 'bufferedamountlow' does not fire (ms) */
  drainPollMs?: number;
  /** received bytes kept while nobody listens before the link fails */
  maxUnclaimedBytes?: number;
}

export type HealEvent =
  | { kind: 'lost'; state: string; restart: 'sent' | 'awaited' | 'unsupported' | 'none' }
  | { kind: 'healed'; ms: number }
  | { kind: 'gave-up'; ms: number };

interface DrainWaiter {
  low: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

export class PeerLink implements Link {
  /** resolves when the data channel is open; rejects if the link closes first */
  readonly opened: Promise<void>;
  private _closed = false;
  private _open = false;
  private closeErr: Error | undefined;
  private msgCbs = new Set<(d: Uint8Array) => void>();
  private closeCbs = new Set<(e?: Error) => void>();
  private unclaimed: Uint8Array[] = [];
  private unclaimedBytes = 0;
  private flushScheduled = false;
  private waiters: DrainWaiter[] = [];
  private pollTimer: ReturnType<typeof setInterval> | null = null;
  private listeningOn: ChannelLike | null = null;
  private settleOpen!: { resolve: () => void; reject: (e: Error) => void };
  private readonly pollMs: number;
  private readonly maxUnclaimed: number;
  private readonly healMs: number;
  private healTimer: ReturnType<typeof setTimeout> | null = null;
  private healStart = 0;
  private _heals = 0;
  private restartGen = 0;
  private readonly stallMs: number;
  private stallTimer: ReturnType<typeof setInterval> | null = null;
  private stallSince = 0;
  private stallAmount = 0;
  private stalled = false;
  /**
   * ICE has been in a state other than connected since the loss: only then does `connected`
   * mean it came back (a stall with ICE still `connected` heals when the data moves, not on
   * the state-change event an ICE restart fires while the state stays `connected`)
   */
  private iceDown = false;

  constructor(
    readonly remoteId: string,
    private readonly peer: PeerInstance,
    opts: PeerLinkOptions = {},
  ) {
    this.pollMs = opts.drainPollMs ?? 20;
    this.maxUnclaimed = opts.maxUnclaimedBytes ?? 64 * 1024 * 1024;
    this.healMs = opts.healMs ?? 5000;
    this.onHeal = opts.onHeal;
    this.stallMs = this.healMs > 0 ? (opts.stallMs ?? 4000) : 0;
    if (this.healMs > 0) this.hookIce();
    this.opened = new Promise<void>((resolve, reject) => (this.settleOpen = { resolve, reject }));
    this.opened.catch(() => {}); // a link that never opens is reported through onClose too
    peer.on('data', (d) => this.onData(d));
    peer.on('connect', () => this.onConnect());
    peer.on('error', (e) =>
      this.close(new TabswarmError('LINK_FAILED', `WebRTC connection to peer ${remoteId} failed: ${e.message}`, { cause: e })),
    );
    peer.on('close', () => this.close(new TabswarmError('LINK_CLOSED', `WebRTC connection to peer ${remoteId} was closed by the remote side or the network`)));
    if (peer.destroyed) this.close(new TabswarmError('LINK_CLOSED', `peer for ${remoteId} was already destroyed`));
    else if (peer.connected) this.onConnect();
  }

  private readonly onHeal: ((e: HealEvent) => void) | undefined;

  get closed(): boolean {
    return this._closed;
  }

  /** ICE connections lost and restored so far */
  get heals(): number {
    return this._heals;
  }

  /** whether the link is healing now (ICE lost, waiting for it to come back) */
  get healing(): boolean {
    return this.healTimer !== null;
  }

  /** bumps on every ICE restart this side starts (the mesh marks the offers it makes) */
  get restartGeneration(): number {
    return this.restartGen;
  }

  /**
   * Hooks simple-peer's ICE and connection state handlers: while the link is open, `failed`
   * and `disconnected` start healing instead of (for `failed`) destroying the peer at once.
   */
  private hookIce() {
    const sp = this.peer as unknown as SimplePeerInternals;
    const origIce = sp._onIceStateChange;
    const origConn = sp._onConnectionStateChange;
    if (typeof origIce !== 'function') return; // not simple-peer 9: its own behaviour stays
    sp._onIceStateChange = () => {
      const st = sp._pc?.iceConnectionState ?? '';
      if (st !== 'connected' && st !== 'completed') this.iceDown = true;
      if (this._open && !this._closed && (st === 'failed' || st === 'disconnected')) {
        this.lost(`ICE ${st}`);
        if (st === 'failed') return; // simple-peer would destroy the peer here
      } else if (this.healTimer !== null && this.iceDown && (st === 'connected' || st === 'completed')) this.healed();
      origIce.call(sp);
    };
    if (typeof origConn === 'function') {
      sp._onConnectionStateChange = () => {
        const st = sp._pc?.connectionState ?? '';
        if (st !== 'connected') this.iceDown = true;
        if (this._open && !this._closed && st === 'failed') return this.lost('connection failed');
        if (this.healTimer !== null && this.iceDown && st === 'connected') this.healed();
        origConn.call(sp);
      };
    }
  }

  /** Watches the channel's buffer while bytes are queued: queued bytes that do not move for stallMs mean a lost path. */
  private watchStall() {
    if (this.stallMs <= 0 || this.stallTimer !== null) return;
    this.stallSince = Date.now();
    this.stallAmount = 0;
    const every = Math.min(500, Math.max(10, this.stallMs / 4));
    this.stallTimer = setInterval(() => {
      if (this._closed) return;
      const amount = this.bufferedAmount;
      const now = Date.now();
      if (amount === 0 || amount < this.stallAmount) {
        // moving (or nothing to move): a stall, if any, is over
        this.stallAmount = amount;
        this.stallSince = now;
        if (this.stalled) {
          this.stalled = false;
          this.healed();
        }
        if (amount === 0) {
          // nothing queued: stop watching until the next send
          clearInterval(this.stallTimer!);
          this.stallTimer = null;
        }
        return;
      }
      this.stallAmount = amount;
      if (!this.stalled && now - this.stallSince >= this.stallMs) {
        this.stalled = true;
        this.lost(`stalled: ${amount} bytes queued, none sent for ${now - this.stallSince} ms`);
      }
    }, every);
    (this.stallTimer as { unref?: () => void }).unref?.();
  }

  /**
   * The path is lost (ICE says so, or queued data stopped moving): the initiator restarts ICE
   * either way. Chromium, too, may report no ICE change for many seconds after a cable is
   * pulled while its data channel stalls; a restart gathers candidates afresh and lets the
   * path come back as soon as the network does.
   */
  private lost(state: string, restartIce = true) {
    if (this.healTimer !== null) return;
    this.healStart = Date.now();
    const pc = (this.peer as unknown as SimplePeerInternals)._pc;
    const ice = pc?.iceConnectionState ?? '';
    this.iceDown = ice !== 'connected' && ice !== 'completed';
    this.healTimer = setTimeout(() => {
      this.healTimer = null;
      const ms = Date.now() - this.healStart;
      this.onHeal?.({ kind: 'gave-up', ms });
      this.close(new TabswarmError('LINK_FAILED', `WebRTC connection to peer ${this.remoteId} lost (${state}) and not restored within ${this.healMs} ms`, { peer: this.remoteId }));
    }, this.healMs);
    const sp = this.peer as unknown as SimplePeerInternals;
    let restart: 'sent' | 'awaited' | 'unsupported' | 'none' = restartIce ? 'awaited' : 'none';
    if (sp.initiator && restartIce) {
      // the initiator restarts ICE: new credentials in a new offer, through the same signaling
      try {
        sp._pc?.restartIce?.();
        sp.offerOptions = { ...sp.offerOptions, iceRestart: true };
        this.restartGen++;
        sp.negotiate?.();
        restart = 'sent';
      } catch {
        restart = 'unsupported'; // node-datachannel: restartIce() is "Not implemented"
      }
    }
    this.onHeal?.({ kind: 'lost', state, restart });
  }

  private healed() {
    if (this.healTimer === null) return;
    clearTimeout(this.healTimer);
    this.healTimer = null;
    this._heals++;
    this.onHeal?.({ kind: 'healed', ms: Date.now() - this.healStart });
  }

  /** true once the data channel has opened (and until it closes) */
  get isOpen(): boolean {
    return this._open && !this._closed;
  }

  get bufferedAmount(): number {
    return this._closed ? 0 : (channelOf(this.peer)?.bufferedAmount ?? 0);
  }

  send(data: Uint8Array): void {
    if (this._closed) throw this.closedError();
    if (!this._open) throw new TabswarmError('BAD_REQUEST', `link to ${this.remoteId} is not open yet`);
    this.watchStall();
    try {
      this.peer.send(data);
    } catch (e) {
      const err = new TabswarmError('LINK_FAILED', `send of ${data.byteLength} bytes to peer ${this.remoteId} failed: ${(e as Error).message}`, { cause: e });
      this.close(err);
      throw err;
    }
  }

  drained(lowWater: number): Promise<void> {
    if (this._closed) return Promise.reject(this.closedError());
    if (this.bufferedAmount <= lowWater) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ low: lowWater, resolve, reject });
      this.armDrain();
    });
  }

  onMessage(cb: (d: Uint8Array) => void): () => void {
    this.msgCbs.add(cb);
    if (this.unclaimed.length > 0) this.scheduleFlush();
    return () => this.msgCbs.delete(cb);
  }

  onClose(cb: (e?: Error) => void): () => void {
    this.closeCbs.add(cb);
    return () => this.closeCbs.delete(cb);
  }

  /** Idempotent. Pending drained() calls reject with LINK_CLOSED; onClose callbacks get `err`. */
  close(err?: Error): void {
    if (this._closed) return;
    this._closed = true;
    this.closeErr = err;
    if (this.healTimer !== null) clearTimeout(this.healTimer);
    this.healTimer = null;
    if (this.stallTimer !== null) clearInterval(this.stallTimer);
    this.stallTimer = null;
    this.stopDrain();
    const closedErr = this.closedError();
    for (const w of this.waiters.splice(0)) w.reject(closedErr);
    this.unclaimed = [];
    this.unclaimedBytes = 0;
    if (!this._open) this.settleOpen.reject(closedErr);
    try {
      this.peer.destroy();
    } catch {
      // already torn down: nothing left to release
    }
    for (const cb of [...this.closeCbs]) cb(err);
    this.closeCbs.clear();
    this.msgCbs.clear();
  }

  private closedError(): TabswarmError {
    return new TabswarmError('LINK_CLOSED', `link to ${this.remoteId} is closed`, { cause: this.closeErr });
  }

  private onConnect() {
    if (this._open || this._closed) return;
    this._open = true;
    this.settleOpen.resolve();
  }

  private onData(d: Uint8Array | string) {
    if (this._closed) return;
    // simple-peer hands out Buffers (a Uint8Array subclass): re-view them as plain Uint8Array
    const bytes = typeof d === 'string' ? new TextEncoder().encode(d) : new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
    if (this.msgCbs.size > 0 && this.unclaimed.length === 0) {
      for (const cb of [...this.msgCbs]) cb(bytes);
      return;
    }
    this.unclaimed.push(bytes);
    this.unclaimedBytes += bytes.byteLength;
    if (this.unclaimedBytes > this.maxUnclaimed) {
      this.close(new TabswarmError('LINK_FAILED', `more than ${this.maxUnclaimed} bytes from peer ${this.remoteId} arrived with nobody listening`));
      return;
    }
    if (this.msgCbs.size > 0) this.scheduleFlush();
  }

  private scheduleFlush() {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => {
      this.flushScheduled = false;
      while (this.unclaimed.length > 0 && this.msgCbs.size > 0 && !this._closed) {
        const m = this.unclaimed.shift()!;
        this.unclaimedBytes -= m.byteLength;
        for (const cb of [...this.msgCbs]) cb(m);
      }
    });
  }

  private readonly checkDrain = () => {
    const amount = this.bufferedAmount;
    const still: DrainWaiter[] = [];
    for (const w of this.waiters) (amount <= w.low ? w.resolve() : still.push(w));
    this.waiters = still;
    if (still.length === 0) this.stopDrain();
    else this.armDrain();
  };

  private armDrain() {
    const ch = channelOf(this.peer);
    if (ch) {
      // the event fires when bufferedAmount falls to the threshold: wake at the highest mark
      // anyone waits for, then re-arm for the rest
      ch.bufferedAmountLowThreshold = Math.max(...this.waiters.map((w) => w.low));
      if (this.listeningOn !== ch && ch.addEventListener) {
        this.listeningOn?.removeEventListener?.('bufferedamountlow', this.checkDrain);
        ch.addEventListener('bufferedamountlow', this.checkDrain);
        this.listeningOn = ch;
      }
    }
    this.pollTimer ??= setInterval(this.checkDrain, this.pollMs);
  }

  private stopDrain() {
    if (this.pollTimer !== null) clearInterval(this.pollTimer);
    this.pollTimer = null;
    if (this._closed) {
      this.listeningOn?.removeEventListener?.('bufferedamountlow', this.checkDrain);
      this.listeningOn = null;
    }
  }
}
