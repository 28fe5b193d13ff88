/**
 * The ring's send queue: two FIFO lanes. With `forwardFirst`, frames received from the
 * previous rank (on the critical path of every later round) go out before this rank's own
 * first-round chunks, which only fill the link when nothing waits to be forwarded; otherwise
 * everything leaves in arrival order.
 */
export class SendQueue<T> {
  private readonly lanes: [T[], T[]] = [[], []];
  private readonly heads = [0, 0];
  constructor(private readonly forwardFirst: boolean) {}

  push(item: T, forwarded: boolean): void {
    this.lanes[forwarded && this.forwardFirst ? 0 : 1].push(item);
  }

  shift(): T | undefined {
    for (let l = 0; l < 2; l++) {
      const lane = this.lanes[l]!;
      if (this.heads[l]! < lane.length) {
        const item = lane[this.heads[l]!]!;
        this.heads[l]!++;
        if (this.heads[l] === lane.length) {
          lane.length = 0;
          this.heads[l] = 0;
        }
        return item;
      }
    }
    return undefined;
  }

  get size(): number {
    return this.lanes[0].length - this.heads[0]! + this.lanes[1].length - this.heads[1]!;
  }

  clear(): void {
    for (let l = 0; l < 2; l++) {
      this.lanes[l]!.length = 0;
      this.heads[l] = 0;
    }
  }
}
