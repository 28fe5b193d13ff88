/**
 * Counter-based randomness for the random layers (Dropout, SpatialDropout1D, GaussianNoise,
 * GaussianDropout, AlphaDropout): every draw is a pure function of
 * (job seed, step, layer index, stream, global sample position, element index), a
 * murmur3-style hash of those six words. Nothing is carried from one draw to the next, so a
 * sample gets the same mask whichever tab computes it, in whichever slice, and the
 * single-process reference draws the same.
 *
 * Normal deviates use Box–Muller with a logarithm and a cosine written here with + − × ÷ only
 * (IEEE-754 exact-rounded in every JS engine, never contracted), so they do not depend on an
 * engine's Math.log / Math.cos.
 */

const rotl = (x: number, r: number) => (x << r) | (x >>> (32 - r));

function mixWord(h: number, w: number): number {
  let k = Math.imul(w, 0xcc9e2d51);
  k = rotl(k, 15);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = rotl(h, 13);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function fmix(h: number, len: number): number {
  h ^= len;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The per-(seed, step, layer, stream) prefix; combine with `counterBits`. */
export function counterKey(seed: number, step: number, layer: number, stream = 0): number {
  let h = 0x6a09e667;
  h = mixWord(h, seed >>> 0);
  h = mixWord(h, step >>> 0);
  h = mixWord(h, Math.floor(step / 4294967296) >>> 0);
  h = mixWord(h, layer >>> 0);
  return mixWord(h, stream >>> 0);
}

/** 32 random bits for (key, global sample position, element index). */
export function counterBits(key: number, sample: number, elem: number): number {
  return fmix(mixWord(mixWord(key, sample >>> 0), elem >>> 0), 28);
}

/** Uniform in [0, 1) with 24 bits: exactly representable in float32. */
export function counterUniform(key: number, sample: number, elem: number): number {
  return (counterBits(key, sample, elem) >>> 8) / 16777216;
}

const LN2 = 0.6931471805599453;
const SQRT2 = 1.4142135623730951;
const HALF_PI = 1.5707963267948966;

/** Natural logarithm of x in (0, 1], from + − × ÷ only. */
export function detLog(x: number): number {
  let e = 0;
  let m = x;
  while (m < 1) {
    m *= 2;
    e--;
  }
  while (m >= 2) {
    m /= 2;
    e++;
  }
  if (m > SQRT2) {
    m /= 2;
    e++;
  }
  const t = (m - 1) / (m + 1);
  const t2 = t * t;
  // 2·atanh(t) = 2(t + t³/3 + t⁵/5 + …), |t| ≤ 0.172: 12 terms are below 1e-18
  let s = 0;
  for (let k = 23; k >= 1; k -= 2) s = s * t2 + 1 / k;
  return 2 * t * s + e * LN2;
}

// Horner forms of the Taylor series to x²² on [0, π/2]: truncation error below 1e-19
function sinPoly(x: number): number {
  const x2 = x * x;
  let s = 1;
  for (let j = 11; j >= 1; j--) s = 1 - (x2 / ((2 * j) * (2 * j + 1))) * s;
  return x * s;
}

function cosPoly(x: number): number {
  const x2 = x * x;
  let s = 1;
  for (let j = 11; j >= 1; j--) s = 1 - (x2 / ((2 * j - 1) * (2 * j))) * s;
  return s;
}

/** cos(2π u) for u in [0, 1), from + − × ÷ only. */
export function detCos2Pi(u: number): number {
  const v = u * 4;
  const q = Math.floor(v);
  const phi = (v - q) * HALF_PI;
  switch (q & 3) {
    case 0: return cosPoly(phi);
    case 1: return -sinPoly(phi);
    case 2: return -cosPoly(phi);
    default: return sinPoly(phi);
  }
}

/** A standard normal deviate for (key, sample, elem) by Box–Muller over two counter draws. */
export function counterNormal(key: number, sample: number, elem: number): number {
  const b1 = counterBits(key, sample, elem * 2);
  const b2 = counterBits(key, sample, elem * 2 + 1);
  const u1 = (b1 + 0.5) / 4294967296; // (0, 1)
  const u2 = b2 / 4294967296; // [0, 1)
  return Math.sqrt(-2 * detLog(u1)) * detCos2Pi(u2);
}
