/**
 * Large transfers from members — a checkpoint's state, the final weights — over HTTP, not
 * over socket.io: engine.io's message limit is one number for every socket, joined or not,
 * so it stays small (MAX_SOCKET_MESSAGE_BYTES) and the big bytes come here.
 *
 *   PUT /api/uploads/:uploadId   body: the bytes (application/octet-stream)
 *
 * Who may send: whoever holds the id, which the coordinator hands only to the member it asks
 * (in `checkpoint-request` or `done`); 24 random bytes, single use, expiring. What it costs
 * the server before a refusal: a Map lookup (unknown id: 404 before the body is read), then
 * at most the ticket's byte limit — the size of that job's state — read as it streams.
 * The coordinator re-checks the sender's role when the bytes arrive.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { TabswarmError } from '../shared/errors.ts';
import type { UploadKind } from './coordinator.ts';

export interface UploadTicket {
  jobId: string;
  peerId: string;
  kind: UploadKind;
  step: number;
  maxBytes: number;
  expiresAt: number;
}

export interface UploadTable {
  offer(t: Omit<UploadTicket, 'expiresAt'>): string;
  /** the ticket, removed: an id works once */
  take(id: string): UploadTicket | undefined;
  readonly size: number;
}

export function createUploadTable(o: { now: () => number; ttlMs?: number; max?: number }): UploadTable {
  const tickets = new Map<string, UploadTicket>();
  const ttl = o.ttlMs ?? 10 * 60_000;
  const max = o.max ?? 10_000;
  const sweep = () => {
    const now = o.now();
    for (const [id, t] of tickets) if (t.expiresAt <= now) tickets.delete(id);
    // bounded even if nobody ever uploads: the oldest go first
    for (const id of tickets.keys()) {
      if (tickets.size <= max) break;
      tickets.delete(id);
    }
  };
  return {
    offer(t) {
      sweep();
      const id = randomBytes(24).toString('base64url');
      tickets.set(id, { ...t, expiresAt: o.now() + ttl });
      return id;
    },
    take(id) {
      const t = tickets.get(id);
      tickets.delete(id);
      return t && t.expiresAt > o.now() ? t : undefined;
    },
    get size() {
      return tickets.size;
    },
  };
}

/** Reads a request body of at most `max` bytes; refuses a larger one before reading it when it says its length. */
export async function readBytes(req: IncomingMessage, max: number): Promise<Uint8Array> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) throw new TabswarmError('UPLOAD_REJECTED', `upload of ${declared} bytes is larger than the ${max} this upload may have`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > max) throw new TabswarmError('UPLOAD_REJECTED', `upload larger than the ${max} bytes this upload may have`);
    chunks.push(c as Buffer);
  }
  if (!req.complete) throw new TabswarmError('UPLOAD_REJECTED', 'upload ended before its body was complete');
  return new Uint8Array(Buffer.concat(chunks));
}

/**
 * The most bytes an upload of a job's weights may have: the final weights are the params then
 * the non-trainable weights (batch-norm moving statistics); a checkpoint is the state codec's
 * params, two optimizer moments (Adam), the non-trainable weights and a small header.
 */
export function uploadLimitBytes(v: { trainableParams: number; nonTrainableParams: number }, kind: 'checkpoint' | 'final'): number {
  const p = v.trainableParams;
  const b = v.nonTrainableParams;
  return kind === 'final' ? 4 * (p + b) : 12 * p + 4 * b + 4096;
}
