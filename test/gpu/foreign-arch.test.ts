/**
 * A CUDA build whose kernels the GPU here cannot run (e.g. built for sm_80 only, on an
 * H100/H200) must not be picked by device 'auto': the probe launches a test kernel and
 * reports the architecture mismatch instead, so everything stays on the CPU and works.
 * Runs only where P2SAM_FOREIGN_ARCH_ADDON names such an addon and a GPU is present
 * (scripts/gpu-check.sh passes build-foreign-arch/Release/p2sam.node when it exists).
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { P2SAM } from '../../lib';
import { testkitModel } from '../helpers';

const foreign = process.env.P2SAM_FOREIGN_ARCH_ADDON;
// The documented gate: such an addon and a GPU (which the regular build can use).
const gpu = P2SAM.backends().cuda.kernelsAvailable;
if (!foreign) console.log('[gpu foreign-arch skipped] P2SAM_FOREIGN_ARCH_ADDON is not set');
else if (!gpu) console.log(`[gpu foreign-arch skipped] ${P2SAM.backends().cuda.reason}`);

describe.skipIf(!foreign || !gpu)('a CUDA build for another GPU architecture', () => {
  it("is reported unusable with the reason, and 'auto' runs on the CPU", async () => {
    const paths = await testkitModel();
    const script = `
      const { P2SAM } = require(${JSON.stringify(path.resolve(__dirname, '../../dist/lib/index.js'))});
      (async () => {
        const cuda = P2SAM.backends().cuda;
        const model = await P2SAM.load({ encoder: ${JSON.stringify(paths.encoder)}, decoder: ${JSON.stringify(paths.decoder)} });
        const err = await P2SAM.load({ encoder: ${JSON.stringify(paths.encoder)}, decoder: ${JSON.stringify(paths.decoder)}, device: 'cuda', modelDevice: 'cpu' }).then(() => null, (e) => ({ code: e.code, message: e.message }));
        console.log(JSON.stringify({ cuda, info: { device: model.info.device, reason: model.info.deviceReason }, err }));
        await model.dispose();
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const r = spawnSync(process.execPath, ['-e', script], {
      encoding: 'utf8',
      env: { ...process.env, P2SAM_NATIVE_PATH: foreign },
    });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(out.cuda.kernelsCompiled).toBe(true);
    expect(out.cuda.kernelsAvailable).toBe(false);
    expect(out.cuda.reason).toMatch(
      /is not usable: its compute capability \d+\.\d+ cannot run this build's kernels \(CUDA architectures [^)]+\); rebuild with P2SAM_CUDA_ARCHS including \d+-real/,
    );
    expect(out.info.device).toBe('cpu');
    expect(out.info.reason).toContain('cannot run this build');
    expect(out.err).toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    expect(out.err.message).toContain('cannot run this build');
  });
});
