/**
 * The members' shares of a stored dataset's batch, steered so that their compute times meet.
 * The coordinator's speed estimate (samples over the time from a step's opening to the member's
 * `computed`) carries what a step costs whatever its size — the message, the read, the kernels'
 * dispatch — so a member given little is measured slow and a claim far off is corrected slowly:
 * in `bench data` four alike tabs claimed 917, 350, 60 and 673 samples/s and 17 steps later one
 * still computed half the batch (so read half the dataset) and another a tenth. Here a share
 * moves with log(mean time / own time), averaged over steps: gently within ±25 % (a loaded
 * machine's steps swing that much, a step that fetched a shard runs long once; every swing that
 * moves a cut lands in shards nobody holds), harder beyond. At rest the times are equal, i.e.
 * shares are in proportion to speed. A newcomer starts from its speed's proportion, within
 * [¾, 4/3] × an even share.
 */
/** how hard a share follows its (log) time ratio per step (1: all the way): within ±SHARE_NOISE, and beyond */
export const SHARE_GAIN = 0.1;
export const SHARE_GAIN_FAR = 0.4;
export const SHARE_NOISE = Math.log(1.25);
/** how far the averaged time ratio moves to a step's own per step */
export const SHARE_AVERAGE = 0.3;
/** a share changes at most this factor per step (a step's time can be an outlier) */
export const SHARE_STEP_MAX = 1.5;
/** a newcomer's share starts within [1/NEWCOMER_MAX, NEWCOMER_MAX] × an even one */
export const NEWCOMER_MAX = 4 / 3;
/** no share falls below this fraction of an even one (a member can always show it sped up) */
export const SHARE_FLOOR = 0.05;

export class ShareControl {
  private readonly share = new Map<string, number>();
  /** ms from opening to `computed` of each member's last committed step, not yet used */
  private readonly took = new Map<string, number>();
  /** each member's log(mean time / own time), averaged over steps (SHARE_AVERAGE) */
  private readonly lead = new Map<string, number>();

  /** A committed step's time for member `id` (its slice non-empty). */
  observe(id: string, ms: number) {
    if (Number.isFinite(ms) && ms > 0) this.took.set(id, ms);
  }

  forget(alive: (id: string) => boolean) {
    for (const map of [this.share, this.took, this.lead]) for (const id of map.keys()) if (!alive(id)) map.delete(id);
  }

  /** The members' shares (summing to 1), updated by the times observed since the last call. */
  shares(members: readonly { peerId: string; weight: number }[]): number[] {
    const n = members.length;
    if (n === 0) return [];
    const w = members.map((m) => (Number.isFinite(m.weight) && m.weight > 0 ? m.weight : 0));
    const total = w.reduce((a, b) => a + b, 0);
    // a newcomer: its speed's proportion, within [¾, 4/3] × an even share — a claim measured
    // while other tabs load is far off (15× apart for alike tabs: the tab given 2× reads 2× the
    // shards of the first window), and the times correct it within a few steps
    const s = members.map((m, i) => this.share.get(m.peerId) ?? Math.min(NEWCOMER_MAX / n, Math.max(1 / NEWCOMER_MAX / n, total > 0 ? w[i]! / total : 1 / n)));
    const times = members.map((m) => this.took.get(m.peerId));
    const seen = times.filter((t): t is number => t !== undefined);
    if (seen.length >= 2) {
      const mean = seen.reduce((a, b) => a + b, 0) / seen.length;
      times.forEach((t, i) => {
        if (t === undefined) return;
        const was = this.lead.get(members[i]!.peerId);
        const x = was === undefined ? Math.log(mean / t) : was + SHARE_AVERAGE * (Math.log(mean / t) - was);
        this.lead.set(members[i]!.peerId, x);
        const near = Math.max(-SHARE_NOISE, Math.min(SHARE_NOISE, x));
        const f = Math.exp(SHARE_GAIN * near + SHARE_GAIN_FAR * (x - near));
        s[i] = s[i]! * Math.min(SHARE_STEP_MAX, Math.max(1 / SHARE_STEP_MAX, f));
      });
    }
    this.took.clear();
    const floored = s.map((x) => Math.max(x, SHARE_FLOOR / n));
    const sum = floored.reduce((a, b) => a + b, 0);
    const out = floored.map((x) => x / sum);
    members.forEach((m, i) => this.share.set(m.peerId, out[i]!));
    return out;
  }
}
