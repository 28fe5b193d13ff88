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
export function watchRelayGathering(pc: IcePeerConnectionLike, o: { timeoutMs: number; peer?: string; what?: string }): RelayWatch {
  let stop = () => {};
  const relayed = new Promise<void>((resolve, reject) => {
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
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
    // node-datachannel reports 'complete' before gathering has started (the offerer even
    // never reports it in progress): only a 'complete' after 'gathering' (browsers) or
    // 'in-progress' (node-datachannel) ends it; else the timeout does
    let started = false;
    const onGathering = () => {
      if (pc.iceGatheringState === 'gathering' || pc.iceGatheringState === 'in-progress') started = true;
      if (pc.iceGatheringState !== 'complete' || !started) return;
      if (gatheredRelay(pc)) finish();
      else fail('after ICE gathering completed');
    };
    const timer = setTimeout(() => (gatheredRelay(pc) ? finish() : fail(`within ${o.timeoutMs} ms`)), o.timeoutMs);
    pc.addEventListener('icecandidate', onCandidate);
    pc.addEventListener('icegatheringstatechange', onGathering);
    stop = () => {
      done = true;
      clearTimeout(timer);
      pc.removeEventListener('icecandidate', onCandidate);
      pc.removeEventListener('icegatheringstatechange', onGathering);
    };
    if (gatheredRelay(pc)) finish();
  });
  return { relayed, stop: () => stop() };
}
