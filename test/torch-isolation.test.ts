/**
 * The ONNX path never pays for libtorch: after P2SAM.load of an ONNX pair and a whole
 * segment(), neither p2sam_torch.node nor any libtorch library is mapped into the process
 * (/proc/self/maps). The control case shows the check can fail: a process that loads a
 * TorchScript pair does map both.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { P2SAM } from '../lib';
import { makeScene } from '../lib/testkit/scenes';
import { torchBuildStatus } from '../lib/torch';
import { tempDir, testkitModel } from './helpers';

const TORCH_LIBRARY = /p2sam_torch\.node|libtorch[._]/;

function mappedTorchLibraries(maps: string): string[] {
  return [
    ...new Set(
      maps
        .split('\n')
        .filter((l) => TORCH_LIBRARY.test(l))
        .map((l) => l.split(/\s+/).pop()!),
    ),
  ];
}

describe.skipIf(process.platform !== 'linux')('libtorch stays out of ONNX-only processes', () => {
  it('an ONNX load and segment map no torch library', async () => {
    const model = await P2SAM.load({ ...(await testkitModel()), threads: 2 });
    const scene = makeScene({ width: 320, height: 240, seed: 3, center: [0.5, 0.5], scale: 0.5 });
    const ref = await model.createReference(
      { image: scene.image, mask: scene.mask },
      { parts: { min: 1, max: 2 } },
    );
    const r = await model.segment(scene.image, { reference: ref });
    expect(r.mask.length).toBe(320 * 240);
    P2SAM.backends(); // reports the torch addon without loading it
    expect(mappedTorchLibraries(readFileSync('/proc/self/maps', 'utf8'))).toEqual([]);
    await model.dispose();
  });

  it.skipIf(!torchBuildStatus().built)(
    'control: a TorchScript load maps p2sam_torch.node and libtorch',
    () => {
      const dir = tempDir('torch-maps');
      const script = `
      const { P2SAM, testkit } = require(${JSON.stringify(path.resolve(__dirname, '../dist/lib/index.js'))});
      const pt = testkit.writeTorchTestkitModels(${JSON.stringify(dir)});
      P2SAM.load({ encoder: pt.encoder, decoder: pt.decoder, threads: 1 }).then(() => {
        process.stdout.write(require('fs').readFileSync('/proc/self/maps', 'utf8'));
      });`;
      const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', maxBuffer: 64 << 20 });
      expect(r.status, r.stderr).toBe(0);
      const libs = mappedTorchLibraries(r.stdout);
      expect(libs.some((l) => l.endsWith('p2sam_torch.node'))).toBe(true);
      expect(libs.some((l) => /libtorch_cpu|libtorch\.so/.test(l))).toBe(true);
    },
  );
});
