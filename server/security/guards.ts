/**
 * The server's rate limits, in one place: job creation and joins per IP, signaling per socket
 * and per IP, every socket message per socket, and concurrent sockets per IP. Each is a token
 * bucket on the injected clock. The defaults leave honest use far below every limit: a
 * worker sends a few messages per step and a few dozen signals per ring change.
 */
import { createKeyedLimiter, createTokenBucket, ipKey, type BucketSpec } from './rateLimit.ts';

export interface RateLimits {
  createJobPerIp: BucketSpec;
  joinPerIp: BucketSpec;
  signalPerSocket: BucketSpec;
  signalPerIp: BucketSpec;
  messagesPerSocket: BucketSpec;
  /** concurrent socket.io connections from one IP */
  socketsPerIp: number;
}

export const DEFAULT_RATE_LIMITS: RateLimits = {
  createJobPerIp: { burst: 20, perSec: 0.2 },
  joinPerIp: { burst: 60, perSec: 2 },
  signalPerSocket: { burst: 300, perSec: 100 },
  signalPerIp: { burst: 2_000, perSec: 500 },
  messagesPerSocket: { burst: 2_000, perSec: 1_000 },
  socketsPerIp: 128,
};

/** Limits of one socket; every method says whether the action may go ahead. */
export interface SocketGuard {
  readonly ip: string;
  message(): boolean;
  join(): boolean;
  signal(): boolean;
  /** the socket is gone */
  release(): void;
}

export interface Guards {
  readonly limits: RateLimits;
  createJob(address: string | undefined): boolean;
  /** null when this IP already has `socketsPerIp` sockets open */
  connect(address: string | undefined): SocketGuard | null;
}

export function createGuards(o: { now: () => number; limits?: Partial<RateLimits> }): Guards {
  const limits: RateLimits = { ...DEFAULT_RATE_LIMITS, ...o.limits };
  const createJob = createKeyedLimiter(limits.createJobPerIp, o.now);
  const joins = createKeyedLimiter(limits.joinPerIp, o.now);
  const signalsByIp = createKeyedLimiter(limits.signalPerIp, o.now);
  const open = new Map<string, number>();
  return {
    limits,
    createJob: (address) => createJob.take(ipKey(address)),
    connect(address) {
      const ip = ipKey(address);
      const n = open.get(ip) ?? 0;
      if (n >= limits.socketsPerIp) return null;
      open.set(ip, n + 1);
      const messages = createTokenBucket(limits.messagesPerSocket, o.now);
      const signals = createTokenBucket(limits.signalPerSocket, o.now);
      let released = false;
      return {
        ip,
        message: () => messages.take(),
        join: () => joins.take(ip),
        signal: () => signals.take() && signalsByIp.take(ip),
        release() {
          if (released) return;
          released = true;
          const left = (open.get(ip) ?? 1) - 1;
          if (left <= 0) open.delete(ip);
          else open.set(ip, left);
        },
      };
    },
  };
}
