/** Which prediction job an idle member of a finished training job is told to serve (server/prediction/serveIdle.ts). */
import { describe, expect, it } from 'vitest';
import { pickServeJob, type ServeCandidate } from '../../../../server/prediction/serveIdle.ts';

const job = (id: string, o: Partial<ServeCandidate> = {}): ServeCandidate => ({ id, createdAt: 100, source: 'job:T', open: true, pendingUnits: 3, ...o });

describe('pickServeJob', () => {
  it('picks the oldest open prediction job with pending units made from this training job', () => {
    expect(pickServeJob('T', [job('new', { createdAt: 300 }), job('old', { createdAt: 200 }), job('mid', { createdAt: 250 })])).toBe('old');
  });

  it('skips jobs with nothing pending, closed jobs, and jobs whose weights came from elsewhere', () => {
    const cs = [
      job('drained', { createdAt: 1, pendingUnits: 0 }),
      job('closed', { createdAt: 2, open: false }),
      job('uploaded', { createdAt: 3, source: 'upload' }),
      job('other', { createdAt: 4, source: 'job:U' }),
      job('prefix', { createdAt: 5, source: 'job:TT' }),
      job('mine', { createdAt: 6 }),
    ];
    expect(pickServeJob('T', cs)).toBe('mine');
    expect(pickServeJob('T', cs.slice(0, 5))).toBeNull();
    expect(pickServeJob('U', cs)).toBe('other');
  });

  it('nothing to serve: null', () => {
    expect(pickServeJob('T', [])).toBeNull();
  });

  it('a tie on age is broken by id, so every sweep picks the same job', () => {
    expect(pickServeJob('T', [job('b'), job('a')])).toBe('a');
  });
});
