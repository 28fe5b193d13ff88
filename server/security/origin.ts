/**
 * Which web origins may open a socket.io connection. Browsers always send `Origin` on a
 * WebSocket handshake (and on cross-origin polling), so a page on another site cannot drive
 * a volunteer's browser into our server unless its origin is configured. Requests without
 * `Origin` come from non-browser clients (Node workers, tests), which could forge any header
 * anyway: they are let through, and the per-IP limits apply to them as to everyone.
 *
 * Same origin = the Origin's host:port equals the request's Host header.
 */
import type { IncomingMessage } from 'node:http';

/** Normalises configured origins ('https://a.example:8443/' → 'https://a.example:8443'); throws on a malformed one. */
export function normaliseOrigins(origins: readonly string[]): string[] {
  return origins.map((o) => {
    const u = new URL(o);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`origin ${o}: only http(s) origins`);
    return u.origin;
  });
}

export function originAllowed(origin: string | undefined, host: string | undefined, allowed: readonly string[]): boolean {
  if (origin === undefined) return true;
  if (allowed.includes(origin)) return true;
  let u: URL;
  try {
    u = new URL(origin);
  } catch {
    return false; // 'null' (sandboxed frames, file://) and garbage
  }
  return (u.protocol === 'http:' || u.protocol === 'https:') && host !== undefined && u.host === host.toLowerCase();
}

/** For socket.io's `allowRequest`. */
export function createOriginCheck(allowed: readonly string[]) {
  return (req: IncomingMessage, cb: (err: string | null | undefined, ok: boolean) => void) => {
    const ok = originAllowed(req.headers.origin, req.headers.host, allowed);
    cb(ok ? null : 'origin not allowed', ok);
  };
}
