/** dataset.id in job specs: the built-in ids as before, or a stored dataset's id pattern. */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { specFromBody, vetSpec } from '../../../server/jobs.ts';
import { STORED_DATASET_ID } from '../../../shared/jobSpec.ts';

describe('dataset ids in job specs', () => {
  it('accepts the built-ins and the stored-id pattern, nothing else', () => {
    for (const id of ['iris', 'mnist', 'sotu', 'ds_0123456789abcdef01234567']) expect(specFromBody({ preset: 'iris-mlp', dataset: { id } }).dataset.id).toBe(id);
    for (const id of ['cifar10', 'ds_0123', 'ds_0123456789ABCDEF01234567', '__proto__', 'toString', '']) {
      expect(() => specFromBody({ preset: 'iris-mlp', dataset: { id } })).toThrow(/BAD_JOB_SPEC: dataset\.id/);
    }
    expect(STORED_DATASET_ID.test('ds_0123456789abcdef01234567')).toBe(true);
  });

  it('vets a stored dataset through the lookup: its feature shape and classes', async () => {
    const spec = specFromBody({ preset: 'iris-mlp', dataset: { id: 'ds_0123456789abcdef01234567' } });
    await expect(vetSpec(tf, spec)).rejects.toMatchObject({ code: 'DATASET_UNKNOWN' });
    expect((await vetSpec(tf, spec, undefined, () => ({ featureShape: [4], classes: 3 }))).trainableParams).toBe(131);
    await expect(vetSpec(tf, spec, undefined, () => ({ featureShape: [5], classes: 3 }))).rejects.toMatchObject({ code: 'MODEL_REJECTED' });
    await expect(vetSpec(tf, spec, undefined, () => ({ featureShape: [4], classes: 2 }))).rejects.toMatchObject({ code: 'MODEL_REJECTED' });
    // a shipped id is a store entry like any other: the lookup answers; without one, the catalogue's shapes
    let asked = '';
    expect((await vetSpec(tf, specFromBody({ preset: 'iris-mlp' }), undefined, (id) => ((asked = id), { featureShape: [4], classes: 3 }))).trainableParams).toBe(131);
    expect(asked).toBe('iris');
    expect((await vetSpec(tf, specFromBody({ preset: 'iris-mlp' }))).trainableParams).toBe(131);
  });
});
