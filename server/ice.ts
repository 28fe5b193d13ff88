/**
 * ICE servers for operators: STUN and TURN URLs from options or environment, and per-peer
 * short-lived TURN credentials. Pure (no I/O besides reading `env` when asked to).
 *
 * TURN credentials follow the TURN REST API scheme (draft-uberti-behave-turn-rest) that
 * coturn checks with `use-auth-secret` / `static-auth-secret`:
 *   username   = `${expiryUnixSeconds}:${peerId}`
 *   credential = base64(HMAC-SHA1(secret, username))
 * The server never sends the secret; a credential is worthless after its expiry (coturn
 * refuses allocations, and refreshes of existing ones, once the timestamp is in the past).
 *
 * Environment (comma-separated lists):
 *   TABSWARM_STUN="stun:stun.example.org:3478"
 *   TABSWARM_TURN="turn:turn.example.org:3478?transport=udp,turns:turn.example.org:5349?transport=tcp"
 *   TABSWARM_TURN_SECRET=…        (coturn's static-auth-secret)
 *   TABSWARM_TURN_TTL=86400       (seconds a credential stays valid)
 */
import { createHmac } from 'node:crypto';
import { TabswarmError } from '../shared/errors.ts';

export interface IceOptions {
  stun?: string[];
  turn?: string[];
  turnSecret?: string;
  /** seconds a TURN credential stays valid (default DEFAULT_TURN_TTL_SEC) */
  turnTtlSec?: number;
}

/** RTCIceServer-shaped (what browsers' RTCPeerConnection and simple-peer take). */
export interface IceServer {
  urls: string[];
  username?: string;
  credential?: string;
}

/**
 * A credential outlives a step by far; it must outlive a whole session on a relay too,
 * because coturn checks the timestamp again on every allocation refresh. One day is what the
 * TURN REST draft recommends; operators who want shorter set `turnTtlSec`.
 */
export const DEFAULT_TURN_TTL_SEC = 86_400;
const MIN_TTL_SEC = 60;
const MAX_TTL_SEC = 7 * 86_400;

const ENV_LIST = (v: string | undefined): string[] | undefined => {
  if (v === undefined) return undefined;
  const list = v.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  return list.length > 0 ? list : undefined;
};

/** IceOptions from TABSWARM_STUN, TABSWARM_TURN, TABSWARM_TURN_SECRET, TABSWARM_TURN_TTL. */
export function iceOptionsFromEnv(env: Record<string, string | undefined> = process.env): IceOptions {
  const o: IceOptions = {};
  const stun = ENV_LIST(env.TABSWARM_STUN);
  const turn = ENV_LIST(env.TABSWARM_TURN);
  if (stun) o.stun = stun;
  if (turn) o.turn = turn;
  if (env.TABSWARM_TURN_SECRET) o.turnSecret = env.TABSWARM_TURN_SECRET;
  if (env.TABSWARM_TURN_TTL !== undefined && env.TABSWARM_TURN_TTL !== '') {
    const ttl = Number(env.TABSWARM_TURN_TTL);
    if (!Number.isInteger(ttl)) throw new TabswarmError('BAD_REQUEST', `TABSWARM_TURN_TTL must be a whole number of seconds, got ${JSON.stringify(env.TABSWARM_TURN_TTL)}`);
    o.turnTtlSec = ttl;
  }
  return o;
}

/** Options given explicitly (CLI flags, ServerOptions) win field by field over the environment's. */
export function mergeIceOptions(fromEnv: IceOptions, explicit: IceOptions): IceOptions {
  const o: IceOptions = { ...fromEnv };
  for (const k of ['stun', 'turn', 'turnSecret', 'turnTtlSec'] as const) if (explicit[k] !== undefined) (o as Record<string, unknown>)[k] = explicit[k];
  return o;
}

/**
 * Checks one ICE URL (RFC 7064 / RFC 7065): `stun:` / `turn:` / `turns:`, a host (name, IPv4
 * or bracketed IPv6), an optional port, and for TURN an optional `?transport=udp|tcp`. No
 * credentials in the URL: they come from the secret, per peer.
 */
export function validateIceUrl(url: string, kind: 'stun' | 'turn'): void {
  const bad = (why: string) => new TabswarmError('BAD_REQUEST', `ICE ${kind.toUpperCase()} URL ${JSON.stringify(url)}: ${why}`);
  const m = /^([a-z]+):(.*)$/i.exec(url);
  if (!m) throw bad('expected scheme:host[:port]');
  const scheme = m[1]!.toLowerCase();
  const allowed = kind === 'stun' ? ['stun'] : ['turn', 'turns'];
  if (!allowed.includes(scheme)) throw bad(`scheme must be ${allowed.map((s) => s + ':').join(' or ')}`);
  let rest = m[2]!;
  if (rest.startsWith('//')) throw bad('no "//" after the scheme (RFC 7064/7065)');
  if (rest.includes('@')) throw bad('no credentials in the URL; TURN credentials come from the shared secret');
  let query = '';
  const q = rest.indexOf('?');
  if (q >= 0) {
    query = rest.slice(q + 1);
    rest = rest.slice(0, q);
  }
  if (query !== '') {
    if (kind === 'stun') throw bad('a STUN URL takes no query');
    const t = /^transport=(udp|tcp)$/i.exec(query);
    if (!t) throw bad('the only query allowed is transport=udp or transport=tcp');
    if (scheme === 'turns' && t[1]!.toLowerCase() === 'udp') throw bad('turns: runs over TCP (TLS); transport=udp is not allowed');
  }
  let host: string;
  let port: string | undefined;
  if (rest.startsWith('[')) {
    const end = rest.indexOf(']');
    if (end < 0) throw bad('unterminated IPv6 literal');
    host = rest.slice(1, end);
    const after = rest.slice(end + 1);
    if (after !== '' && !after.startsWith(':')) throw bad('junk after the IPv6 literal');
    port = after === '' ? undefined : after.slice(1);
    if (!/^[0-9a-f:.]+$/i.test(host) || !host.includes(':')) throw bad('bad IPv6 literal');
  } else {
    const parts = rest.split(':');
    if (parts.length > 2) throw bad('IPv6 addresses need brackets');
    host = parts[0]!;
    port = parts[1];
    if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/i.test(host)) throw bad(`bad host ${JSON.stringify(host)}`);
  }
  if (port !== undefined) {
    if (!/^[0-9]{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) throw bad(`bad port ${JSON.stringify(port)}`);
  }
}

/** The TURN REST API credential for `peerId`, valid until `expiryUnixSec`. */
export function turnCredential(secret: string, peerId: string, expiryUnixSec: number): { username: string; credential: string } {
  const username = `${Math.floor(expiryUnixSec)}:${peerId}`;
  return { username, credential: createHmac('sha1', secret).update(username).digest('base64') };
}

export class IceConfig {
  readonly stun: readonly string[];
  readonly turn: readonly string[];
  readonly ttlSec: number;
  readonly #secret: string | null;

  constructor(o: IceOptions = {}) {
    this.stun = [...(o.stun ?? [])];
    this.turn = [...(o.turn ?? [])];
    for (const u of this.stun) validateIceUrl(u, 'stun');
    for (const u of this.turn) validateIceUrl(u, 'turn');
    const secret = o.turnSecret ?? null;
    if (this.turn.length > 0 && !secret) throw new TabswarmError('BAD_REQUEST', 'TURN URLs need a TURN secret (TABSWARM_TURN_SECRET or --turn-secret): credentials are minted per peer');
    if (secret !== null && this.turn.length === 0) throw new TabswarmError('BAD_REQUEST', 'a TURN secret was given without TURN URLs');
    if (secret !== null && secret.length < 16) throw new TabswarmError('BAD_REQUEST', 'the TURN secret must be at least 16 characters');
    this.#secret = secret;
    const ttl = o.turnTtlSec ?? DEFAULT_TURN_TTL_SEC;
    if (!Number.isInteger(ttl) || ttl < MIN_TTL_SEC || ttl > MAX_TTL_SEC) throw new TabswarmError('BAD_REQUEST', `TURN credential TTL must be ${MIN_TTL_SEC}..${MAX_TTL_SEC} s, got ${ttl}`);
    this.ttlSec = ttl;
  }

  /** Whether any ICE server is configured (else peers get `[]`: host candidates only). */
  get empty(): boolean {
    return this.stun.length === 0 && this.turn.length === 0;
  }

  /** The ICE servers to hand `peerId` (in its welcome), with TURN credentials valid for ttlSec from `nowMs`. */
  iceServersFor(peerId: string, nowMs: number): IceServer[] {
    if (!peerId) throw new TabswarmError('BAD_REQUEST', 'TURN credentials need a peer id');
    const out: IceServer[] = [];
    if (this.stun.length > 0) out.push({ urls: [...this.stun] });
    if (this.turn.length > 0) out.push({ urls: [...this.turn], ...turnCredential(this.#secret!, peerId, Math.floor(nowMs / 1000) + this.ttlSec) });
    return out;
  }

  /** For logs and status pages: the URLs and TTL, never the secret. */
  describe(): { stun: string[]; turn: string[]; turnTtlSec: number; turnSecret: boolean } {
    return { stun: [...this.stun], turn: [...this.turn], turnTtlSec: this.ttlSec, turnSecret: this.#secret !== null };
  }

  toJSON() {
    return this.describe();
  }
}

/** IceConfig from the environment overlaid with explicit options; throws BAD_REQUEST on bad input. */
export function iceConfig(explicit: IceOptions = {}, env: Record<string, string | undefined> = process.env): IceConfig {
  return new IceConfig(mergeIceOptions(iceOptionsFromEnv(env), explicit));
}

/**
 * The same servers for node-datachannel's RTCPeerConnection polyfill, which folds username
 * and credential into the URL (`turn:user:cred@host:port`) for libdatachannel to parse back:
 * a TURN REST username holds a ':' and a base64 credential may hold '/', '+' and '=', so both
 * are percent-encoded (libdatachannel percent-decodes them, and decodes nothing else).
 * Browsers take `iceServersFor()`'s output as is.
 */
export function iceServersForNodeDatachannel(servers: readonly IceServer[]): IceServer[] {
  return servers.map((s) => (s.username === undefined && s.credential === undefined ? { urls: [...s.urls] } : { urls: [...s.urls], username: encodeURIComponent(s.username ?? ''), credential: encodeURIComponent(s.credential ?? '') }));
}
