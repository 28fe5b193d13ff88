/**
 * How a vector of `length` elements is cut for a ring of `size` ranks: N contiguous
 * segments, each cut into chunks of at most `chunkElems`. The last `exactTail` elements
 * (counts and sums that must stay exact under a lossy encoding) start chunks of their own,
 * so a chunk is either wholly in the tail or wholly before it. Pure arithmetic, no I/O.
 */
export class RingLayout {
  /** the first element of the exact tail */
  readonly cut: number;
  constructor(
    readonly length: number,
    readonly size: number,
    readonly chunkElems: number,
    exactTail = 0,
  ) {
    if (!(chunkElems >= 1)) throw new RangeError('chunkElems must be >= 1');
    this.cut = Math.max(0, length - Math.max(0, exactTail));
  }
  segStart(seg: number): number {
    return Math.floor((seg * this.length) / this.size);
  }
  segLength(seg: number): number {
    return this.segStart(seg + 1) - this.segStart(seg);
  }
  /** elements of segment `seg` before the exact tail */
  private headLength(seg: number): number {
    return Math.max(0, Math.min(this.segStart(seg + 1), this.cut) - this.segStart(seg));
  }
  chunks(seg: number): number {
    const head = this.headLength(seg);
    return Math.ceil(head / this.chunkElems) + Math.ceil((this.segLength(seg) - head) / this.chunkElems);
  }
  /** [offset, length] of chunk `c` of segment `seg` in the whole vector */
  chunk(seg: number, c: number): [number, number] {
    const s = this.segStart(seg);
    const head = this.headLength(seg);
    const headChunks = Math.ceil(head / this.chunkElems);
    if (c < headChunks) {
      const off = s + c * this.chunkElems;
      return [off, Math.min(this.chunkElems, s + head - off)];
    }
    const off = s + head + (c - headChunks) * this.chunkElems;
    return [off, Math.min(this.chunkElems, this.segStart(seg + 1) - off)];
  }
  /** whether chunk `c` of segment `seg` lies in the exact tail */
  exact(seg: number, c: number): boolean {
    return this.chunk(seg, c)[0] >= this.cut;
  }
  /** the largest chunk, in elements */
  get maxChunkElems(): number {
    return Math.min(this.chunkElems, Math.max(1, Math.ceil(this.length / this.size) + 1));
  }
  mod(x: number): number {
    return ((x % this.size) + this.size) % this.size;
  }
  /** segment rank `rank` sends in reduce-scatter round r (it receives sendSeg(rank-1, r)) */
  rsSendSeg(rank: number, r: number): number {
    return this.mod(rank - r);
  }
  rsRecvSeg(rank: number, r: number): number {
    return this.mod(rank - r - 1);
  }
  agSendSeg(rank: number, r: number): number {
    return this.mod(rank + 1 - r);
  }
  agRecvSeg(rank: number, r: number): number {
    return this.mod(rank - r);
  }
  /** frames rank receives in one phase of one all-reduce */
  expectedFrames(rank: number, phase: 'rs' | 'ag'): number {
    let n = 0;
    for (let r = 0; r < this.size - 1; r++) n += this.chunks(phase === 'rs' ? this.rsRecvSeg(rank, r) : this.agRecvSeg(rank, r));
    return n;
  }
}
