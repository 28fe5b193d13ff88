/** An N-rank ring of in-memory links for the ring's unit tests; out[i] = rank i's prev and next links. */
import type { Link } from '../../../shared/allreduce/link.ts';
import { memoryLinkPair } from '../../../shared/allreduce/memoryLink.ts';

export function memoryRing(n: number): { prev: Link | null; next: Link | null }[] {
  if (n === 1) return [{ prev: null, next: null }];
  if (n === 2) {
    const [a, b] = memoryLinkPair('r0', 'r1');
    return [{ prev: a, next: a }, { prev: b, next: b }];
  }
  const out = Array.from({ length: n }, () => ({ prev: null as Link | null, next: null as Link | null }));
  for (let i = 0; i < n; i++) {
    const j = (i + 1) % n;
    const [toNext, fromPrev] = memoryLinkPair(`r${j}`, `r${i}`);
    out[i]!.next = toNext;
    out[j]!.prev = fromPrev;
  }
  return out;
}

/** links[i][j] = rank i's link to rank j (a full mesh of in-memory links). */
export function memoryMesh(n: number): (Link | null)[][] {
  const out = Array.from({ length: n }, () => Array.from({ length: n }, () => null as Link | null));
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const [atI, atJ] = memoryLinkPair(`r${j}`, `r${i}`);
      out[i]![j] = atI;
      out[j]![i] = atJ;
    }
  }
  return out;
}
