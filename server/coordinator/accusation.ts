/**
 * One ring member accusing its neighbour — "its frames were bad" or "my link to it failed".
 * The coordinator never takes an accusation for free (a liar could otherwise evict any honest
 * member it is placed next to):
 *
 * - rejected frames: the accused sent them, so it is alive and the accuser's word stands
 *   against its own; both leave the ring at once (the accused evicted, the accuser dropped —
 *   it may rejoin through a state sync);
 * - a failed link: the step is aborted and the boundary held for up to 1.5 heartbeats while
 *   evidence comes in. The suspect disconnecting or staying silent since the report settles it
 *   against the suspect alone; a suspect that still talks to the server takes the accuser
 *   with it.
 *
 * So one accusation removes at most one honest member and always removes its accuser: k
 * malicious members remove at most k honest ones, and then are out themselves.
 */
export class Accusation {
  readonly frames: boolean;
  judgeAt: number;
  constructor(
    readonly accuser: string,
    readonly suspect: string,
    readonly code: string,
    readonly message: string,
    readonly at: number,
    graceMs: number,
  ) {
    this.frames = code.startsWith('FRAME_');
    this.judgeAt = at + graceMs;
  }

  /** the server stood still for `ms`: the evidence window moves on with it */
  postpone(ms: number) {
    this.judgeAt += ms;
  }
}
