/**
 * How a vector of `length` elements is cut for a ring of `size` ranks: N contiguous
 * segments, each cut into chunks of at most `chunkElems`. Pure arithmetic, no I/O.
 */
export class RingLayout {
  constructor(
    readonly length: number,
    readonly size: number,
    readonly chunkElems: number,
  ) {
    if (!(chunkElems >= 1)) throw new RangeError('chunkElems must be >= 1');
  }
  segStart(seg: number): number {
    return Math.floor((seg * this.length) / this.size);
  }
  segLength(seg: number): number {
    return this.segStart(seg + 1) - this.segStart(seg);
  }
  chunks(seg: number): number {
    return Math.ceil(this.segLength(seg) / this.chunkElems);
  }
  /** [offset, length] of chunk `c` of segment `seg` in the whole vector */
  chunk(seg: number, c: number): [number, number] {
    const s = this.segStart(seg);
    const off = s + c * this.chunkElems;
    return [off, Math.min(this.chunkElems, s + this.segLength(seg) - off)];
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
