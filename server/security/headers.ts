/**
 * Response headers. Every response: no MIME sniffing. Pages: a Content-Security-Policy that
 * the Vite build satisfies (own scripts only; 'wasm-unsafe-eval' for the tfjs WASM backend;
 * blob: workers for its threaded build; inline styles for chart libraries), no framing
 * (clickjacking), no referrer (job links carry ids, dashboard links a token in the fragment),
 * and a separate browsing context group. API responses: never cached, since some carry
 * owner-only data.
 */
import type { Server } from 'node:http';

export const BASE_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

export const API_HEADERS: Readonly<Record<string, string>> = {
  ...BASE_HEADERS,
  'cache-control': 'no-store',
};

/** `connectOrigins`: servers other than this one that pages may talk to (the worker page's ?server=). */
export function contentSecurityPolicy(connectOrigins: readonly string[] = []): string {
  return [
    "default-src 'self'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "worker-src 'self' blob:",
    `connect-src 'self'${connectOrigins.map((o) => ` ${o} ${o.replace(/^http/, 'ws')}`).join('')}`,
    "img-src 'self' data: blob:",
    "style-src 'self' 'unsafe-inline'",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

export function pageHeaders(connectOrigins: readonly string[] = []): Record<string, string> {
  return {
    ...BASE_HEADERS,
    'content-security-policy': contentSecurityPolicy(connectOrigins),
    'x-frame-options': 'DENY',
    'cross-origin-opener-policy': 'same-origin',
  };
}

/** Bounds on slow or oversized requests (slowloris, header floods). */
export function hardenHttpServer(server: Server, o: { requestTimeoutMs?: number; headersTimeoutMs?: number } = {}) {
  server.headersTimeout = o.headersTimeoutMs ?? 15_000;
  server.requestTimeout = o.requestTimeoutMs ?? 60_000;
  server.maxHeadersCount = 100;
}
