/** The coordinator forms its ring with server/ringOrder.ts and says why in the event log. */
import { describe, expect, it } from 'vitest';
import { coordinatorHarness } from './coordinatorHarness.ts';

describe('coordinator ring order', () => {
  it('a relayed, slow link reported by a member is kept out of the next ring; the epoch event says why', () => {
    const t = coordinatorHarness({ minWorkers: 5 });
    for (const id of ['a', 'b', 'c', 'd', 'e']) t.add(id);
    expect(t.lastStep('a')!.ring).toEqual(['a', 'b', 'c', 'd', 'e']);
    // what sockets.ts records from a's heartbeat about its link to its next neighbour
    t.c.ringPlanner.links.report('a', 'b', { rttMs: 150, relayed: true });
    t.c.remove('e', 'left');
    const ring = t.lastStep('a')!.ring;
    expect([...ring].sort()).toEqual(['a', 'b', 'c', 'd']);
    const i = ring.indexOf('a');
    expect([ring[(i + 1) % 4], ring[(i + 3) % 4]]).not.toContain('b');
    const epoch = t.c.events.filter((e) => e.kind === 'epoch').at(-1)!;
    expect(epoch.detail).toContain(`ring ${ring.join(' → ')}; ordered by link quality: slowest hop 0 ms, join order's 200 ms (slowest pair a–b: 200 ms, relayed)`);
  });

  it('a member that leaves is forgotten: its reports no longer shape the ring', () => {
    const t = coordinatorHarness({ minWorkers: 5 });
    for (const id of ['a', 'b', 'c', 'd', 'e']) t.add(id);
    t.c.ringPlanner.links.report('e', 'a', { rttMs: 5000, relayed: true });
    t.c.remove('e', 'left');
    expect(t.c.ringPlanner.links.cost('a', 'e')).toBe(0);
    expect(t.lastStep('a')!.ring).toEqual(['a', 'b', 'c', 'd']);
  });
});
