/**
 * Token buckets on a fake clock: burst, refill, cap; keyed limiters stay bounded; IPv6
 * clients are limited per /64; the guards combine per-socket and per-IP limits and count
 * open sockets per IP.
 */
import { describe, expect, it } from 'vitest';
import { createGuards } from '../../../server/security/guards.ts';
import { createKeyedLimiter, createTokenBucket, ipKey } from '../../../server/security/rateLimit.ts';

function clock(start = 0) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

describe('token bucket', () => {
  it('allows the burst, then one per 1/perSec, never more than the burst after a long idle', () => {
    const c = clock();
    const b = createTokenBucket({ burst: 3, perSec: 2 }, c.now);
    expect([b.take(), b.take(), b.take(), b.take()]).toEqual([true, true, true, false]);
    c.advance(499);
    expect(b.take()).toBe(false);
    c.advance(1);
    expect(b.take()).toBe(true);
    expect(b.take()).toBe(false);
    c.advance(60_000);
    expect(b.level()).toBe(3);
    expect([b.take(), b.take(), b.take(), b.take()]).toEqual([true, true, true, false]);
  });

  it('takes a cost, refuses without spending when short, and ignores a clock going backwards', () => {
    const c = clock(10_000);
    const b = createTokenBucket({ burst: 10, perSec: 1 }, c.now);
    expect(b.take(7)).toBe(true);
    expect(b.take(4)).toBe(false);
    expect(b.level()).toBe(3);
    c.advance(-5_000);
    expect(b.level()).toBe(3);
    c.advance(5_000); // back where it was: no refill for the time it ran backwards
    expect(b.level()).toBe(3);
    c.advance(1_000);
    expect(b.level()).toBe(4);
  });
});

describe('keyed limiter', () => {
  it('limits each key on its own', () => {
    const c = clock();
    const l = createKeyedLimiter({ burst: 2, perSec: 1 }, c.now);
    expect([l.take('a'), l.take('a'), l.take('a')]).toEqual([true, true, false]);
    expect([l.take('b'), l.take('b')]).toEqual([true, true]);
    c.advance(1000);
    expect([l.take('a'), l.take('a')]).toEqual([true, false]);
  });

  it('stays within maxKeys under a flood of new keys, and keeps the drained recent ones', () => {
    const c = clock();
    const l = createKeyedLimiter({ burst: 1, perSec: 0.001 }, c.now, 100);
    expect(l.take('victim-of-its-own-flood')).toBe(true);
    for (let i = 0; i < 5_000; i++) {
      l.take(`k${i}`);
      if (i % 50 === 0) expect(l.take('victim-of-its-own-flood')).toBe(false); // recently used: never evicted
      expect(l.size()).toBeLessThanOrEqual(100);
    }
  });
});

describe('ipKey', () => {
  it('keeps IPv4, unwraps IPv4-mapped IPv6, and groups IPv6 by /64', () => {
    expect(ipKey('203.0.113.7')).toBe('203.0.113.7');
    expect(ipKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(ipKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(ipKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(ipKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(ipKey('::1')).toBe('0:0:0:0::/64');
    expect(ipKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(ipKey(undefined)).toBe('unknown');
  });
});

describe('guards', () => {
  it('caps open sockets per IP and frees a slot on release (once)', () => {
    const g = createGuards({ now: () => 0, limits: { socketsPerIp: 2 } });
    const a = g.connect('10.0.0.1')!;
    const b = g.connect('::ffff:10.0.0.1')!;
    expect(g.connect('10.0.0.1')).toBeNull();
    expect(g.connect('10.0.0.2')).not.toBeNull();
    a.release();
    a.release();
    expect(g.connect('10.0.0.1')).not.toBeNull();
    expect(g.connect('10.0.0.1')).toBeNull();
    b.release();
  });

  it('limits signaling per socket and per IP, joins and job creation per IP', () => {
    const c = clock();
    const g = createGuards({
      now: c.now,
      limits: { signalPerSocket: { burst: 3, perSec: 1 }, signalPerIp: { burst: 4, perSec: 1 }, joinPerIp: { burst: 2, perSec: 1 }, createJobPerIp: { burst: 1, perSec: 0.1 } },
    });
    const s1 = g.connect('1.1.1.1')!;
    const s2 = g.connect('1.1.1.1')!;
    expect([s1.signal(), s1.signal(), s1.signal(), s1.signal()]).toEqual([true, true, true, false]);
    expect([s2.signal(), s2.signal()]).toEqual([true, false]); // the IP's budget of 4 is spent
    expect([s1.join(), s2.join(), s1.join()]).toEqual([true, true, false]);
    expect([g.createJob('1.1.1.1'), g.createJob('1.1.1.1'), g.createJob('2.2.2.2')]).toEqual([true, false, true]);
    c.advance(10_000);
    expect(g.createJob('1.1.1.1')).toBe(true);
  });
});
