/**
 * Token buckets on an injected clock. A bucket holds up to `burst` tokens and refills at
 * `perSec`; each action takes one (or `cost`). A keyed limiter keeps one bucket per key
 * (an IP, a socket) in a map bounded by `maxKeys`: full buckets go first, then the least
 * recently used, so a flood of new keys cannot grow memory without bound.
 */

export interface BucketSpec {
  /** the most actions at once */
  burst: number;
  /** sustained actions per second */
  perSec: number;
}

export interface TokenBucket {
  take(cost?: number): boolean;
  /** tokens left now */
  level(): number;
}

export function createTokenBucket(spec: BucketSpec, now: () => number): TokenBucket {
  let tokens = spec.burst;
  let at = now();
  const refill = () => {
    const t = now();
    if (t > at) tokens = Math.min(spec.burst, tokens + ((t - at) / 1000) * spec.perSec);
    at = Math.max(at, t);
  };
  return {
    take(cost = 1) {
      refill();
      if (tokens < cost) return false;
      tokens -= cost;
      return true;
    },
    level() {
      refill();
      return tokens;
    },
  };
}

export interface KeyedLimiter {
  take(key: string, cost?: number): boolean;
  /** keys tracked now */
  size(): number;
}

export function createKeyedLimiter(spec: BucketSpec, now: () => number, maxKeys = 10_000): KeyedLimiter {
  const buckets = new Map<string, TokenBucket>();
  // frees a tenth of the map at once, so a flood of new keys costs O(1) amortised per key
  const evict = () => {
    const target = Math.floor(maxKeys * 0.9);
    for (const [k, b] of buckets) if (b.level() >= spec.burst) buckets.delete(k);
    for (const k of buckets.keys()) {
      if (buckets.size <= target) break;
      buckets.delete(k);
    }
  };
  return {
    take(key, cost = 1) {
      let b = buckets.get(key);
      if (b) buckets.delete(key); // re-inserted below: the map's order is least recently used first
      else {
        if (buckets.size >= maxKeys) evict();
        b = createTokenBucket(spec, now);
      }
      buckets.set(key, b);
      return b.take(cost);
    },
    size: () => buckets.size,
  };
}

/**
 * The key a client is limited by: IPv4 as is (also when IPv4-mapped), IPv6 by its /64, since
 * one host usually owns a whole /64.
 */
export function ipKey(address: string | undefined): string {
  if (!address) return 'unknown';
  const a = address.toLowerCase().replace(/%.*$/, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (mapped) return mapped[1]!;
  if (!a.includes(':')) return a;
  const [head = '', tail = ''] = a.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = a.includes('::') ? [...h, ...Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t] : h;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}
