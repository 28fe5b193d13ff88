/**
 * The WebRTC connections of one peer to the peers it currently needs (its ring neighbours,
 * a state-sync donor, …). Signaling is injected: `sendSignal(to, data)` goes out over
 * whatever carries it (our socket.io server), and whatever comes in is fed to
 * `handleSignal(from, data)`. The data are opaque JSON-safe objects.
 *
 * - Exactly one connection per unordered pair: the peer whose id sorts lower (string
 *   compare) initiates; the other waits for its offer and answers. `connect()` on either side
 *   resolves with the Link once the data channel is open.
 * - Every connection attempt the initiator starts gets a fresh, increasing id (`cid`) that
 *   each signal carries: signals of an older attempt are dropped, and a newer offer replaces
 *   whatever connection the responder still holds (after a crash or a reconnect).
 * - An attempt that fails before opening is reported to the other side (`failed`) and, while
 *   someone waits in connect(), retried by the initiator (up to `maxAttempts` in a row).
 * - An incoming connection is accepted before the local side calls `connect()`; one that is
 *   neither claimed nor open after `timeoutMs` is dropped.
 * - Open links are kept and reused until `retain(ids)` leaves them out, they close, or the
 *   mesh is destroyed. A link whose ICE connection is lost heals first (PeerLink `healMs`,
 *   set through `linkOptions`): the initiator's ICE-restart offer travels marked `restart`
 *   under the same `cid`, and the responder feeds it to the same peer.
 */
import { TabswarmError, TimeoutError } from '../errors.ts';
import type { Link } from '../allreduce/link.ts';
import { linkStats, type LinkStats } from './linkStats.ts';
import { PeerLink, type HealEvent, type PeerFactory, type PeerInstance, type PeerLinkOptions, type SignalData } from './peerLink.ts';

/** What travels through the signaling server, opaque to it. */
export type MeshSignal = { cid: number; payload: SignalData; restart?: true } | { cid: number; failed: string };

export interface PeerMeshOptions {
  localId: string;
  sendSignal: (to: string, data: MeshSignal) => void;
  createPeer: PeerFactory;
  /** default deadline of connect() and of unclaimed incoming connections (ms) */
  timeoutMs?: number;
  /** connection attempts in a row the initiator makes while connect() waits */
  maxAttempts?: number;
  linkOptions?: PeerLinkOptions;
  /** told, with the remote peer's id, when a link's healing starts and how it ends (PeerLink `onHeal`) */
  onLinkHeal?: (remoteId: string, e: HealEvent) => void;
  /**
   * id of the first connection attempt this peer initiates. The default, Date.now() × 1000,
   * makes a restarted peer's attempts outnumber its earlier ones, so its new offers replace
   * what the other side still holds from before.
   */
  firstCid?: number;
  /** told about every incoming signal that was dropped, and why */
  onDroppedSignal?: (from: string, reason: string) => void;
}

export interface ConnectOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

interface Waiter {
  resolve: (l: Link) => void;
  reject: (e: Error) => void;
}

interface Entry {
  remoteId: string;
  initiator: boolean;
  /** current attempt; 0 while a responder waits for the first signal */
  cid: number;
  peer: PeerInstance | null;
  link: PeerLink | null;
  open: boolean;
  waiters: Set<Waiter>;
  failures: number;
  /** the current attempt's offer has arrived (responder) */
  offered: boolean;
  /** the link being closed because the other side reported its failure (not echoed back) */
  remoteFailed: PeerLink | null;
  /** deadline of an incoming connection nobody has asked for yet */
  unclaimedTimer: ReturnType<typeof setTimeout> | null;
}

const SIGNAL_TYPES = new Set(['offer', 'answer', 'candidate', 'renegotiate', 'transceiverRequest']);

function parseSignal(data: unknown): MeshSignal | null {
  if (typeof data !== 'object' || data === null) return null;
  const { cid, payload, failed } = data as { cid?: unknown; payload?: unknown; failed?: unknown };
  if (typeof cid !== 'number' || !Number.isSafeInteger(cid) || cid < 1) return null;
  if (typeof failed === 'string') return { cid, failed: failed.slice(0, 500) };
  if (typeof payload !== 'object' || payload === null) return null;
  const type = (payload as { type?: unknown }).type;
  if (typeof type !== 'string' || !SIGNAL_TYPES.has(type)) return null;
  const restart = (data as { restart?: unknown }).restart === true;
  return restart ? { cid, payload: payload as SignalData, restart: true } : { cid, payload: payload as SignalData };
}

export class PeerMesh {
  readonly localId: string;
  private entries = new Map<string, Entry>();
  private nextCid: number;
  private destroyedErr: Error | null = null;
  private readonly timeoutMs: number;
  private readonly maxAttempts: number;

  constructor(private readonly o: PeerMeshOptions) {
    this.localId = o.localId;
    this.timeoutMs = o.timeoutMs ?? 30_000;
    this.maxAttempts = o.maxAttempts ?? 3;
    this.nextCid = o.firstCid ?? Date.now() * 1000;
  }

  get destroyed(): boolean {
    return this.destroyedErr !== null;
  }

  /** The open link to `remoteId`, if there is one. */
  /** RTT and relay status of the open link to `remoteId`, when the browser can tell. */
  async stats(remoteId: string): Promise<LinkStats | null> {
    const e = this.entries.get(remoteId);
    return e?.open && e.peer ? linkStats(e.peer) : null;
  }

  get(remoteId: string): Link | undefined {
    const e = this.entries.get(remoteId);
    return e?.open ? (e.link ?? undefined) : undefined;
  }

  /** Ids of the peers with an open link. */
  openPeers(): string[] {
    return [...this.entries.values()].filter((e) => e.open).map((e) => e.remoteId);
  }

  /** Resolves with the open link to `remoteId`, connecting (or waiting to be connected) first. */
  connect(remoteId: string, opts: ConnectOptions = {}): Promise<Link> {
    if (this.destroyedErr) return Promise.reject(this.destroyedErr);
    if (remoteId === this.localId) return Promise.reject(new TabswarmError('BAD_REQUEST', `peer ${remoteId} cannot connect to itself`));
    const entry = this.entries.get(remoteId) ?? this.newEntry(remoteId);
    if (entry.open && entry.link) return Promise.resolve(entry.link);
    if (entry.initiator && !entry.link) {
      const err = this.start(entry, this.nextCid++);
      if (err) return Promise.reject(err);
    }
    if (entry.unclaimedTimer !== null) clearTimeout(entry.unclaimedTimer);
    entry.unclaimedTimer = null;
    const ms = opts.timeoutMs ?? this.timeoutMs;
    return new Promise<Link>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        entry.waiters.delete(w);
      };
      const w: Waiter = {
        resolve: (l) => {
          done();
          resolve(l);
        },
        reject: (err) => {
          done();
          reject(err);
        },
      };
      const giveUp = (err: Error) => {
        w.reject(err);
        // the last one waiting for a connection that has not opened tears it down
        if (entry.waiters.size === 0 && !entry.open && this.entries.get(remoteId) === entry) this.drop(entry, err);
      };
      const timer = setTimeout(() => giveUp(new TimeoutError(`WebRTC connection from ${this.localId} to peer ${remoteId} (${this.phase(entry)})`, ms)), ms);
      const onAbort = () => giveUp(new TabswarmError('ABORTED', `WebRTC connection from ${this.localId} to peer ${remoteId} aborted`, { cause: opts.signal?.reason }));
      entry.waiters.add(w);
      if (opts.signal?.aborted) onAbort();
      else opts.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Feeds one signal from `from` (as received from the signaling server). */
  handleSignal(from: string, data: unknown): void {
    if (this.destroyedErr) return;
    const drop = (reason: string) => this.o.onDroppedSignal?.(from, reason);
    const s = parseSignal(data);
    if (!s) return drop('malformed signal');
    if (from === this.localId) return drop('signal from self');
    const e = this.entries.get(from);
    if ('failed' in s) {
      if (!e?.link || e.open || e.cid !== s.cid) return drop(`failure notice for connection ${s.cid}, which is not pending`);
      e.remoteFailed = e.link;
      return e.link.close(new TabswarmError('LINK_FAILED', `peer ${from} reports that connection ${s.cid} failed: ${s.failed}`));
    }
    if (this.localId < from) {
      // we initiate: only answers and candidates of our current attempt are expected
      if (s.payload.type === 'offer') return drop(`offer from ${from}, which does not initiate toward ${this.localId}`);
      if (!e?.peer || e.cid !== s.cid) return drop(`signal for connection ${s.cid}, which is not current`);
      return this.feed(e, s.payload);
    }
    if (s.payload.type === 'answer') return drop(`answer from ${from}, which initiates toward ${this.localId}`);
    if (e && s.cid < e.cid) return drop(`signal for connection ${s.cid}, older than ${e.cid}`);
    // an ICE restart of the open connection (the link heals): the same peer answers it
    if (s.restart && s.payload.type === 'offer' && e && s.cid === e.cid && e.open && e.peer) return this.feed(e, s.payload);
    // a second offer under the same id comes from a restarted initiator (data-only
    // connections never renegotiate): a new attempt, like a higher id
    const sameAttempt = e && s.cid === e.cid && !(s.payload.type === 'offer' && e.offered);
    if (e && sameAttempt) return e.peer ? this.feed(e, s.payload) : drop(`signal for connection ${s.cid}, which failed`);
    // a new attempt by the initiator (its candidates may precede its offer: simple-peer keeps
    // them until the remote description is set)
    const entry = e ?? this.newEntry(from);
    if (entry.link) {
      const old = entry.link;
      entry.link = null;
      entry.peer = null;
      entry.open = false;
      old.close(new TabswarmError('LINK_CLOSED', `connection ${entry.cid} to peer ${from} replaced by connection ${s.cid}`));
    }
    if (this.start(entry, s.cid)) return;
    if (entry.waiters.size === 0 && entry.unclaimedTimer === null) {
      entry.unclaimedTimer = setTimeout(() => {
        if (entry.waiters.size === 0 && !entry.open && this.entries.get(from) === entry) {
          this.drop(entry, new TimeoutError(`unclaimed incoming WebRTC connection from ${from} to ${this.localId}`, this.timeoutMs));
        }
      }, this.timeoutMs);
    }
    this.feed(entry, s.payload);
  }

  /** Closes the links (and pending connections) to every peer not in `ids`. */
  retain(ids: Iterable<string>): void {
    const keep = new Set(ids);
    for (const e of [...this.entries.values()]) {
      if (!keep.has(e.remoteId)) this.drop(e, new TabswarmError('LINK_CLOSED', `peer ${e.remoteId} is no longer wanted by ${this.localId}`));
    }
  }

  /** Idempotent: closes everything; later connect() calls reject with `err`. */
  destroy(err: Error = new TabswarmError('ABORTED', `peer mesh of ${this.localId} destroyed`)): void {
    if (this.destroyedErr) return;
    this.destroyedErr = err;
    for (const e of [...this.entries.values()]) this.drop(e, err);
  }

  private newEntry(remoteId: string): Entry {
    const e: Entry = {
      remoteId, initiator: this.localId < remoteId, cid: 0, peer: null, link: null, open: false,
      waiters: new Set(), failures: 0, offered: false, remoteFailed: null, unclaimedTimer: null,
    };
    this.entries.set(remoteId, e);
    return e;
  }

  private phase(e: Entry): string {
    if (!e.peer) return e.cid === 0 ? `no offer received from ${e.remoteId}` : `connection ${e.cid} failed, no new offer from ${e.remoteId}`;
    return `${e.initiator ? 'offered' : 'answered'} connection ${e.cid}, data channel not open`;
  }

  /** Starts attempt `cid`; on failure drops the entry and returns the error. */
  private start(e: Entry, cid: number): Error | null {
    let peer: PeerInstance;
    try {
      peer = this.o.createPeer({ initiator: e.initiator });
    } catch (err) {
      const why = new TabswarmError('LINK_FAILED', `could not create a WebRTC peer for ${e.remoteId}: ${(err as Error).message}`, { cause: err });
      this.drop(e, why);
      return why;
    }
    const onHeal = this.o.linkOptions?.onHeal;
    const onLinkHeal = this.o.onLinkHeal;
    const link = new PeerLink(e.remoteId, peer, {
      ...this.o.linkOptions,
      ...(onHeal || onLinkHeal ? { onHeal: (h: HealEvent) => (onHeal?.(h), onLinkHeal?.(e.remoteId, h)) } : {}),
    });
    Object.assign(e, { cid, peer, link, open: false, offered: false });
    const current = () => e.link === link && this.entries.get(e.remoteId) === e;
    peer.on('signal', (payload) => {
      // an offer on an open link is an ICE restart (PeerLink's healing), not a new connection
      if (current() && !link.closed) this.o.sendSignal(e.remoteId, link.isOpen && payload.type === 'offer' ? { cid, payload, restart: true } : { cid, payload });
    });
    link.opened.then(
      () => {
        if (!current()) return;
        e.open = true;
        e.failures = 0;
        if (e.unclaimedTimer !== null) clearTimeout(e.unclaimedTimer);
        e.unclaimedTimer = null;
        for (const w of [...e.waiters]) w.resolve(link);
      },
      () => {}, // handled by onClose
    );
    link.onClose((err) => {
      if (!current()) return;
      if (e.open) return this.forget(e);
      this.failedBeforeOpen(e, link, new TabswarmError('LINK_FAILED', `WebRTC connection ${cid} from ${this.localId} to peer ${e.remoteId} closed before it opened`, { cause: err }));
    });
    return null;
  }

  private failedBeforeOpen(e: Entry, link: PeerLink, why: Error) {
    const cid = e.cid;
    e.link = null;
    e.peer = null;
    if (e.remoteFailed !== link) this.notifyFailed(e.remoteId, cid, why.message);
    e.remoteFailed = null;
    e.failures++;
    if (e.waiters.size === 0 || e.failures >= this.maxAttempts) {
      this.forget(e);
      for (const w of [...e.waiters]) w.reject(why);
      return;
    }
    // someone still waits: the initiator tries again, the responder waits for its new offer
    if (e.initiator) {
      queueMicrotask(() => {
        if (this.entries.get(e.remoteId) === e && !e.link && e.waiters.size > 0 && !this.destroyedErr) this.start(e, this.nextCid++);
      });
    }
  }

  private feed(e: Entry, payload: SignalData) {
    if (payload.type === 'offer') e.offered = true;
    try {
      e.peer!.signal(payload);
    } catch (err) {
      e.link?.close(new TabswarmError('LINK_FAILED', `bad signal from peer ${e.remoteId}: ${(err as Error).message}`, { cause: err }));
    }
  }

  private forget(e: Entry) {
    if (this.entries.get(e.remoteId) === e) this.entries.delete(e.remoteId);
    if (e.unclaimedTimer !== null) clearTimeout(e.unclaimedTimer);
    e.unclaimedTimer = null;
  }

  /** Removes the entry, rejects its waiters with `err` and closes its link. */
  private drop(e: Entry, err: Error) {
    this.forget(e);
    for (const w of [...e.waiters]) w.reject(err);
    const link = e.link;
    // tell the other side about an attempt abandoned before it opened (an open link's
    // closing reaches it through the data channel)
    if (link && !e.open && !link.closed) this.notifyFailed(e.remoteId, e.cid, err.message);
    e.link = null;
    e.peer = null;
    e.open = false;
    link?.close(err);
  }

  private notifyFailed(to: string, cid: number, why: string) {
    try {
      this.o.sendSignal(to, { cid, failed: why });
    } catch {
      // signaling is gone: the other side's own deadline ends its attempt
    }
  }
}
