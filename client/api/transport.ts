/** The one place the client API talks HTTP: `fetch` only, so it runs in Node and in browsers. */
import { ApiError, errorFromResponse } from './errors.ts';

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface RequestOptions {
  token?: string | undefined;
  json?: unknown;
  body?: BodyInit;
  headers?: Record<string, string>;
  query?: Record<string, string | number | undefined | null>;
  signal?: AbortSignal | undefined;
}

export class Transport {
  readonly base: string;
  private readonly fetchFn: FetchLike;

  constructor(url: string, fetchFn?: FetchLike) {
    this.base = url.replace(/\/+$/, '');
    if (!fetchFn && typeof globalThis.fetch !== 'function') throw new ApiError('NETWORK', 'no fetch available: pass connect(url, { fetch })');
    // called through globalThis: an unbound window.fetch throws "Illegal invocation" in browsers
    this.fetchFn = fetchFn ?? ((input, init) => globalThis.fetch(input, init));
  }

  /** The reply when it is ok; otherwise an ApiError with the server's code. */
  async request(method: string, path: string, o: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { ...o.headers };
    if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`;
    let body = o.body;
    if (o.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(o.json);
    }
    let url = `${this.base}${path}`;
    const q = Object.entries(o.query ?? {}).filter((e): e is [string, string | number] => e[1] !== undefined && e[1] !== null);
    if (q.length) url += `?${new URLSearchParams(q.map(([k, v]) => [k, String(v)])).toString()}`;
    let r: Response;
    try {
      r = await this.fetchFn(url, { method, headers, ...(body !== undefined ? { body } : {}), ...(o.signal ? { signal: o.signal } : {}) });
    } catch (e) {
      if (o.signal?.aborted) throw e;
      throw new ApiError('NETWORK', `${method} ${path}: ${e instanceof Error ? e.message : String(e)}`, 0, { cause: e });
    }
    if (!r.ok) throw await errorFromResponse(r, `${method} ${path}`);
    return r;
  }

  async json<T>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
    return (await (await this.request(method, path, o)).json()) as T;
  }
}
