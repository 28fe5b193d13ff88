/**
 * Fails fast when a connection that must be relayed (iceTransportPolicy 'relay') gets no
 * relay candidate: wrong or expired TURN credentials, an unreachable TURN server or a refused
 * allocation otherwise show only as a connection that never opens.
 *
 * Isomorphic: works on a browser RTCPeerConnection and on node-datachannel's polyfill (whose
 * `ext_localCandidates` also lists candidates a wrapper holds back from its listeners).
 */
import { TabswarmError } from './errors.ts';

/** The slice of RTCPeerConnection this module reads. */
export interface IcePeerConnectionLike {
  readonly iceGatheringState: string;
  addEventListener(type: 'icecandidate' | 'icegatheringstatechange', cb: (e: Event) => void): void;
  removeEventListener(type: 'icecandidate' | 'icegatheringstatechange', cb: (e: Event) => void): void;
}

/** Whether an ICE candidate line (`candidate:… typ relay …`) is a relayed (TURN) candidate. */
export function isRelayCandidate(candidate: string | undefined | null): boolean {
  return !!candidate && /\btyp relay\b/.test(candidate);
}

function gatheredRelay(pc: IcePeerConnectionLike): boolean {
  const ext = (pc as unknown as { ext_localCandidates?: { candidate?: string }[] }).ext_localCandidates;
  return Array.isArray(ext) && ext.some((c) => isRelayCandidate(c.candidate));
}

export interface RelayWatch {
  /** resolves at the first relay candidate; rejects with ICE_NO_RELAY when gathering ends (or `timeoutMs` passes) without one */
  readonly relayed: Promise<void>;
  /** stops watching (the promise then never settles) */
  stop(): void;
}

/**
 * Watches `pc`'s candidate gathering for a relay candidate. Start it right after creating the
 * connection, before the offer or answer (gathering must start after this is called).
 */
export function watchRelayGathering(pc: IcePeerConnectionLike, o: { timeoutMs: number; peer?: string; what?: string; graceMs?: number }): RelayWatch {
  let stop = () => {};
  const relayed = new Promise<void>((resolve, reject) => {
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(grace);
      pc.removeEventListener('icecandidate', onCandidate);
      pc.removeEventListener('icegatheringstatechange', onGathering);
      if (err) reject(err);
      else resolve();
    };
    const what = o.what ?? (o.peer !== undefined ? `connection to peer ${o.peer}` : 'connection');
    const fail = (why: string) =>
      finish(new TabswarmError('ICE_NO_RELAY', `${what}: no relay candidate ${why}; the TURN server refused the allocation (TURN authentication failed: wrong or expired credentials?) or is unreachable`, o.peer === undefined ? undefined : { peer: o.peer }));
    const onCandidate = (e: Event) => {
      if (isRelayCandidate((e as RTCPeerConnectionIceEvent).candidate?.candidate)) finish();
    };
    // node-datachannel reports 'complete' before gathering has started, and reads the state
    // when it dispatches the event (so 'in-progress' may never be seen): a 'complete' counts
    // once gathering has started (a local description is set, or 'gathering'/'in-progress'
    // was seen), and only after a grace period for candidate events still in flight
    let started = false;
    let grace: ReturnType<typeof setTimeout> | undefined;
    const hasLocalDescription = () => {
      try {
        return !!(pc as unknown as { localDescription?: { sdp?: string } | null }).localDescription?.sdp;
      } catch {
        return false;
      }
    };
    const onGathering = () => {
      const st = pc.iceGatheringState;
      if (st === 'gathering' || st === 'in-progress' || hasLocalDescription()) started = true;
      if (st !== 'complete' || !started || grace !== undefined) return;
      grace = setTimeout(() => {
        grace = undefined;
        if (done) return;
        if (gatheredRelay(pc)) finish();
        else if (pc.iceGatheringState === 'complete') fail('after ICE gathering completed');
      }, o.graceMs ?? 250);
    };
    const timer = setTimeout(() => (gatheredRelay(pc) ? finish() : fail(`within ${o.timeoutMs} ms`)), o.timeoutMs);
    pc.addEventListener('icecandidate', onCandidate);
    pc.addEventListener('icegatheringstatechange', onGathering);
    stop = () => {
      done = true;
      clearTimeout(timer);
      clearTimeout(grace);
      pc.removeEventListener('icecandidate', onCandidate);
      pc.removeEventListener('icegatheringstatechange', onGathering);
    };
    if (gatheredRelay(pc)) finish();
  });
  return { relayed, stop: () => stop() };
}
