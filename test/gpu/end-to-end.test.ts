/**
 * End to end with device 'cuda' (ONNX Runtime's CUDA provider + the addon's kernels) vs
 * the CPU on the same scenes: the final masks must agree. Skipped without a usable
 * CUDA backend (device, kernels and ORT's CUDA provider — see P2SAM.backends()).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { P2SAM } from '../../lib';
import { makeScene } from '../../lib/testkit/scenes';
import { maskIou, testkitModel } from '../helpers';

const backend = P2SAM.backends().cuda;
if (!backend.available) console.log(`[gpu end-to-end skipped] ${backend.reason}`);

describe.skipIf(!backend.available)('segment on device cuda equals the CPU result', () => {
  let gpuModel: P2SAM;
  let cpuModel: P2SAM;
  beforeAll(async () => {
    const paths = await testkitModel();
    gpuModel = await P2SAM.load({ ...paths, device: 'cuda' });
    cpuModel = await P2SAM.load({ ...paths, device: 'cpu', threads: 2 });
  });

  it('records the device and produces the CPU masks', async () => {
    expect(gpuModel.info.device).toBe('cuda');
    const ref = makeScene({ width: 640, height: 480, seed: 3, center: [0.45, 0.5], scale: 0.5 });
    const targets = [11, 12, 13].map((noiseSeed) =>
      makeScene({ width: 640, height: 480, seed: 3, noiseSeed, center: [0.52, 0.5], scale: 0.55 }),
    );
    const rg = await gpuModel.createReference({ image: ref.image, mask: ref.mask });
    const rc = await cpuModel.createReference({ image: ref.image, mask: ref.mask });
    for (const t of targets) {
      const g = await gpuModel.segment(t.image, { reference: rg });
      const c = await cpuModel.segment(t.image, { reference: rc });
      expect(g.parts).toBe(c.parts);
      // The encoder runs in a different order on the GPU, so allow float noise at the
      // mask boundary but nothing more.
      expect(maskIou(g.mask, c.mask)).toBeGreaterThanOrEqual(0.995);
    }
  });
});
