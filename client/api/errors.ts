/**
 * Every failed REST call becomes an ApiError carrying the server's error `code` (the
 * `{ error: { code, message } }` body every route answers with), the HTTP status, and the
 * server's message. Three codes come from the client itself: NETWORK (fetch threw), HTTP
 * (an error reply without a JSON error body), TIMEOUT and ABORTED (a wait ran out or was
 * aborted; status 0).
 */
import type { ErrorCode } from '../../shared/errors.ts';

export type ApiErrorCode = ErrorCode | 'NETWORK' | 'HTTP';

export class ApiError extends Error {
  readonly code: ApiErrorCode;
  /** the HTTP status; 0 when no reply came (NETWORK, TIMEOUT, ABORTED) */
  readonly status: number;
  /** the message without the code in front */
  readonly detail: string;
  constructor(code: ApiErrorCode, detail: string, status = 0, options?: { cause?: unknown }) {
    super(`${code}: ${detail}`, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
    this.detail = detail;
  }
}

/** The ApiError for a reply that is not ok. */
export async function errorFromResponse(r: Response, what: string): Promise<ApiError> {
  const text = await r.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    if (body.error && typeof body.error.code === 'string') {
      return new ApiError(body.error.code as ApiErrorCode, typeof body.error.message === 'string' ? body.error.message : what, r.status);
    }
  } catch {
    // not JSON: fall through
  }
  return new ApiError('HTTP', `${what}: HTTP ${r.status}${text ? ` ${text.slice(0, 200)}` : ''}`, r.status);
}

/** Resolves after `ms`, or rejects with ABORTED when `signal` aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal, 'waiting'));
    const onAbort = () => {
      clearTimeout(t);
      reject(abortError(signal!, 'waiting'));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function abortError(signal: AbortSignal, what: string): Error {
  return signal.reason instanceof Error && signal.reason.name !== 'AbortError' ? signal.reason : new ApiError('ABORTED', `${what} aborted`);
}
