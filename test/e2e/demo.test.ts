/**
 * The core promise, end to end over real parts: a real server, real headless Chromium tabs,
 * real WebRTC data channels, real tfjs training. Replicas end bit-identical and equal to a
 * single process trained on the same global batches.
 */
import { describe, expect, it } from 'vitest';
import { runDemo } from '../../server/demo.ts';

const quiet = () => {};

describe('demo swarm', () => {
  it('3 headless workers train MNIST (subset) for 40 steps: loss falls, replicas agree, equal to one process', async () => {
    const r = await runDemo({
      workers: 3, preset: 'mnist-mlp', steps: 40, trainSize: 4096, testSize: 1000,
      verify: true, json: false, port: 0, timeoutS: 400, print: quiet,
    });
    expect(r.steps).toBe(40);
    expect(r.finalLoss).toBeLessThan(r.initialLoss * 0.6);
    expect(r.replicaHashes).toHaveLength(3);
    expect(new Set(r.replicaHashes).size).toBe(1);
    expect(r.maxAbsDiff).not.toBeNull();
    expect(r.maxAbsDiff!).toBeLessThanOrEqual(1e-4);
    expect(r.testAccuracy!).toBeGreaterThan(0.6);
  }, 480_000);

  it('trains on the WebGPU backend when the page forces it', async () => {
    const r = await runDemo({
      workers: 2, preset: 'iris-mlp', steps: 5, backend: 'webgpu',
      verify: true, json: false, port: 0, timeoutS: 300, print: quiet,
    });
    expect(r.backends).toEqual(['webgpu', 'webgpu']);
    expect(r.steps).toBe(5);
    expect(new Set(r.replicaHashes).size).toBe(1);
    expect(r.maxAbsDiff!).toBeLessThanOrEqual(1e-4);
  }, 360_000);
});
