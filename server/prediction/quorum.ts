/**
 * Settling a unit computed by several members (BOINC's quorum): copies that agree form a
 * group; a group of `need` members settles the unit and every copy outside it is outvoted.
 *
 * Agreement: two copies from the same tfjs backend must be bit-equal (the same kernels on the
 * same inputs give the same bits); across backends (WebGL's float32 textures vs WASM's SIMD
 * vs CPU) every output may differ by at most `tolerance` — kernels sum in different orders,
 * so the last bits differ, never more than ~1e-6 for a softmax output; the default 1e-4 leaves
 * room for deeper models while an altered prediction (a changed class, a scaled vector) is far
 * outside it.
 */
export interface Copy {
  peer: string;
  backend: string;
  out: Float32Array;
}

export function agree(a: Copy, b: Copy, tolerance: number): boolean {
  if (a.out.length !== b.out.length) return false;
  if (a.backend === b.backend) {
    const x = new Uint8Array(a.out.buffer, a.out.byteOffset, a.out.byteLength);
    const y = new Uint8Array(b.out.buffer, b.out.byteOffset, b.out.byteLength);
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
    return true;
  }
  for (let i = 0; i < a.out.length; i++) {
    const d = Math.abs(a.out[i]! - b.out[i]!);
    if (!(d <= tolerance)) return false; // NaN never agrees
  }
  return true;
}

export type Verdict =
  /** `winners` agree and are enough; `losers` were outvoted */
  | { kind: 'settled'; winner: Copy; winners: string[]; losers: string[] }
  /** no group is large enough yet: one more copy is needed (`disputed`: the copies disagree) */
  | { kind: 'open'; disputed: boolean };

/**
 * Groups are built around each copy (everyone that agrees with it); the largest group wins
 * once it has `replicas` members and is a strict majority of the copies (two that disagree
 * need a third; a third that agrees with neither needs a fourth and a fifth). Ties go to the
 * earlier copy.
 */
export function settle(copies: readonly Copy[], replicas: number, tolerance: number): Verdict {
  let best: Copy[] = [];
  let bestLead: Copy | null = null;
  for (const lead of copies) {
    const group = copies.filter((c) => c === lead || agree(lead, c, tolerance));
    if (group.length > best.length) {
      best = group;
      bestLead = lead;
    }
  }
  const disputed = best.length < copies.length;
  if (bestLead && best.length >= replicas && 2 * best.length > copies.length) {
    const winners = new Set(best.map((c) => c.peer));
    return { kind: 'settled', winner: bestLead, winners: [...winners], losers: copies.filter((c) => !winners.has(c.peer)).map((c) => c.peer) };
  }
  return { kind: 'open', disputed };
}
