/**
 * The core promise, end to end over real parts: a real server, real headless Chromium tabs,
 * real WebRTC data channels, real tfjs training. Replicas end bit-identical and equal to a
 * single process trained on the same global batches.
 */
import { describe, expect, it } from 'vitest';
import { runDemo } from '../../server/demo.ts';
import { ringVectorBytes } from '../../shared/allreduce/bandwidth.ts';
import { paceForUplink } from '../../shared/allreduce/pacedLink.ts';

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
    // a ReLU MLP's gradients are full of exact zeros (dark pixels, idle units): the tabs' frames
    // travelled masked, fewer bytes than dense, and the replicas still equal one process (above)
    expect(r.wire!.sentBytes).toBeGreaterThan(0);
    expect(r.wire!.sentBytes).toBeLessThan(r.wire!.denseBytes * 0.9);
    // then the same tabs predict the test set: every tab takes units, the accuracy counted from
    // the gathered predictions is the distributed evaluation's, the outputs one process's
    // model.predict within the cross-backend tolerance (the tabs' backend vs Node's cpu)
    expect(r.predict).toMatchObject({ samples: 1000, workers: 3 });
    expect(r.predict!.accuracy).toBe(r.testAccuracy);
    expect(r.predict!.maxAbsDiffVsSingle).toBeLessThanOrEqual(1e-4);
  }, 480_000);

  it('paces the ring under the uplink the page is told (?uplink=): never faster than the pace, same result', async () => {
    const uplinkMbit = 4; // paced at 425 kB/s: a 2-rank MNIST MLP all-reduce (~0.4 MB each way) takes ≥ ~0.65 s
    const r = await runDemo({
      workers: 2, preset: 'mnist-mlp', steps: 4, trainSize: 1024, testSize: 200, uplinkMbit,
      // dense frames: the floor below counts the whole vector's bytes (masked frames would send ~40 % fewer)
      query: { zeros: 'dense' },
      verify: true, json: false, port: 0, timeoutS: 300, print: quiet,
    });
    expect(r.steps).toBe(4);
    expect(new Set(r.replicaHashes).size).toBe(1);
    expect(r.maxAbsDiff!).toBeLessThanOrEqual(1e-4);
    // each rank sends its whole vector once (N=2); the pacer lets one bucket and one frame (64 KiB each) through early
    const bytes = ringVectorBytes(r.paramCount!);
    const floorMs = ((bytes - 2 * (64 * 1024 + 32)) / paceForUplink(uplinkMbit)) * 1000;
    expect(r.allreduceMsMin).toBeGreaterThanOrEqual(floorMs);
    expect(r.wire!.sentBytes).toBe(r.wire!.denseBytes);
  }, 360_000);

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
