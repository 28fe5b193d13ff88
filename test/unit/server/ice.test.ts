import { webcrypto } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DEFAULT_TURN_TTL_SEC, IceConfig, iceConfig, iceOptionsFromEnv, iceServersForNodeDatachannel, turnCredential, validateIceUrl } from '../../../server/ice.ts';

const SECRET = 'north-sea-secret-0123';

/** HMAC-SHA1 through WebCrypto, a different code path from server/ice.ts's createHmac. */
async function hmacSha1Base64(secret: string, msg: string): Promise<string> {
  const key = await webcrypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-1' }, false, ['sign']);
  const sig = await webcrypto.subtle.sign('HMAC', key, new TextEncoder().encode(msg));
  return Buffer.from(sig).toString('base64');
}

describe('TURN REST API credentials', () => {
  it('matches a known-answer vector (computed with `openssl dgst -sha1 -hmac`) and WebCrypto', async () => {
    const c = turnCredential(SECRET, 'peer-abc', 1_700_000_000);
    expect(c.username).toBe('1700000000:peer-abc');
    // printf '%s' '1700000000:peer-abc' | openssl dgst -sha1 -hmac 'north-sea-secret-0123' -binary | base64
    expect(c.credential).toBe('gA6UFl1FT78+tlZxSo8SCDhlTHI=');
    expect(c.credential).toBe(await hmacSha1Base64(SECRET, '1700000000:peer-abc'));
  });

  it('iceServersFor: STUN entry, TURN entry with expiry = now + ttl, and never the secret', async () => {
    const ice = new IceConfig({ stun: ['stun:stun.example.org'], turn: ['turn:turn.example.org:3478?transport=udp', 'turns:turn.example.org:5349?transport=tcp'], turnSecret: SECRET, turnTtlSec: 600 });
    const now = 1_700_000_123_456;
    const servers = ice.iceServersFor('p1', now);
    expect(servers).toHaveLength(2);
    expect(servers[0]).toEqual({ urls: ['stun:stun.example.org'] });
    const turn = servers[1]!;
    expect(turn.urls).toEqual(['turn:turn.example.org:3478?transport=udp', 'turns:turn.example.org:5349?transport=tcp']);
    const [expiry, peer] = turn.username!.split(':');
    expect(Number(expiry)).toBe(Math.floor(now / 1000) + 600);
    expect(peer).toBe('p1');
    expect(turn.credential).toBe(await hmacSha1Base64(SECRET, turn.username!));
    const wire = JSON.stringify({ servers, ice, described: ice.describe() });
    expect(wire).not.toContain(SECRET);
    expect(ice.describe()).toEqual({ stun: ['stun:stun.example.org'], turn: ice.turn, turnTtlSec: 600, turnSecret: true });
    // credentials differ per peer and expire later for later requests
    expect(ice.iceServersFor('p2', now)[1]!.credential).not.toBe(turn.credential);
    expect(ice.iceServersFor('p1', now + 60_000)[1]!.username).toBe(`${Math.floor(now / 1000) + 660}:p1`);
  });

  it('defaults: nothing configured gives no servers; the TTL defaults to one day', () => {
    expect(new IceConfig().iceServersFor('p', 0)).toEqual([]);
    expect(new IceConfig().empty).toBe(true);
    const ice = new IceConfig({ turn: ['turn:127.0.0.1:3478'], turnSecret: SECRET });
    expect(ice.ttlSec).toBe(DEFAULT_TURN_TTL_SEC);
    expect(ice.iceServersFor('p', 1000_000)[0]!.username).toBe(`${1000 + DEFAULT_TURN_TTL_SEC}:p`);
  });
});

describe('ICE options', () => {
  it('reads the environment; explicit options win', () => {
    const env = { TABSWARM_STUN: 'stun:a.example:3478, stun:b.example', TABSWARM_TURN: 'turn:t.example:3478?transport=tcp', TABSWARM_TURN_SECRET: SECRET, TABSWARM_TURN_TTL: '3600' };
    expect(iceOptionsFromEnv(env)).toEqual({ stun: ['stun:a.example:3478', 'stun:b.example'], turn: ['turn:t.example:3478?transport=tcp'], turnSecret: SECRET, turnTtlSec: 3600 });
    const ice = iceConfig({ stun: ['stun:c.example'] }, env);
    expect(ice.stun).toEqual(['stun:c.example']);
    expect(ice.turn).toEqual(['turn:t.example:3478?transport=tcp']);
    expect(ice.ttlSec).toBe(3600);
    expect(iceOptionsFromEnv({})).toEqual({});
    expect(() => iceOptionsFromEnv({ TABSWARM_TURN_TTL: 'soon' })).toThrow(/BAD_REQUEST: TABSWARM_TURN_TTL/);
  });

  it('accepts well-formed stun:/turn:/turns: URLs', () => {
    for (const u of ['stun:stun.l.example.com:19302', 'stun:127.0.0.1', 'stun:[::1]:3478']) expect(() => validateIceUrl(u, 'stun')).not.toThrow();
    for (const u of ['turn:turn.example.org', 'turn:10.0.0.1:3478?transport=udp', 'turn:[2001:db8::1]:3478?transport=tcp', 'turns:turn.example.org:443?transport=tcp', 'TURN:X.example']) {
      expect(() => validateIceUrl(u, 'turn')).not.toThrow();
    }
  });

  it('rejects malformed URLs with BAD_REQUEST saying why', () => {
    const cases: [string, 'stun' | 'turn', RegExp][] = [
      ['http://example.org', 'stun', /scheme must be stun:/],
      ['turn:example.org', 'stun', /scheme must be stun:/],
      ['stun:example.org', 'turn', /scheme must be turn: or turns:/],
      ['stun://example.org', 'stun', /no "\/\/"/],
      ['turn:user:pw@example.org', 'turn', /no credentials in the URL/],
      ['turn:example.org:0', 'turn', /bad port/],
      ['turn:example.org:70000', 'turn', /bad port/],
      ['turn:example.org:34x', 'turn', /bad port/],
      ['turn:example.org?transport=sctp', 'turn', /transport=udp or transport=tcp/],
      ['turns:example.org?transport=udp', 'turn', /runs over TCP/],
      ['stun:example.org?transport=udp', 'stun', /takes no query/],
      ['turn:2001:db8::1', 'turn', /IPv6 addresses need brackets/],
      ['turn:', 'turn', /bad host/],
      ['turn:exa mple.org', 'turn', /bad host/],
      ['nothing', 'turn', /expected scheme/],
    ];
    for (const [u, kind, why] of cases) expect(() => validateIceUrl(u, kind), u).toThrow(why);
    expect(() => new IceConfig({ stun: ['stun:ok.example', 'turn:x'] })).toThrow(/BAD_REQUEST: ICE STUN URL "turn:x"/);
  });

  it('rejects TURN without a secret, a secret without TURN, short secrets and bad TTLs', () => {
    expect(() => new IceConfig({ turn: ['turn:t.example'] })).toThrow(/need a TURN secret/);
    expect(() => new IceConfig({ turnSecret: SECRET })).toThrow(/without TURN URLs/);
    expect(() => new IceConfig({ turn: ['turn:t.example'], turnSecret: 'short' })).toThrow(/at least 16/);
    for (const ttl of [0, 59, 1.5, 8 * 86_400]) expect(() => new IceConfig({ turn: ['turn:t.example'], turnSecret: SECRET, turnTtlSec: ttl })).toThrow(/TTL/);
    expect(() => new IceConfig({ stun: ['stun:s.example'] }).iceServersFor('', 0)).toThrow(/peer id/);
  });

  it('percent-encodes credentials for node-datachannel, which folds them into the URL', () => {
    const [turn] = iceServersForNodeDatachannel([{ urls: ['turn:t.example'], username: '17:p/q', credential: 'a+b/c=' }]);
    expect(turn).toEqual({ urls: ['turn:t.example'], username: '17%3Ap%2Fq', credential: 'a%2Bb%2Fc%3D' });
    expect(iceServersForNodeDatachannel([{ urls: ['stun:s.example'] }])).toEqual([{ urls: ['stun:s.example'] }]);
  });
});
