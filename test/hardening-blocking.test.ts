/**
 * Issue 15 — the package's own per-pixel and per-byte JavaScript must not run on the
 * caller's event loop: readImage/readMask of large images, and the decoder pruning in
 * P2SAM.load. Measured as the JS thread's own CPU time per call (test/js-thread-time.ts),
 * so a loaded machine does not make it fail and an idle one does not hide a regression.
 *
 * Before the fix, on this project's machine: a 12 MP JPEG 23–28 ms, a 12 MP 16-bit PNG
 * 25–87 ms (windowed 39–44 ms), a 12 MP mask 84–92 ms, P2SAM.load with a 67 MB decoder
 * 57–73 ms of JS-thread CPU. After: under 2 ms each once the helper thread runs.
 */
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { P2SAM, readImage, readMask } from '../lib';
import type { NodeSpec } from '../lib/onnx/graph';
import { encodeTestkitGraph } from '../lib/testkit';
import { buildTestkitDecoderGraph } from '../lib/testkit/decoder';
import { tempDir, testkitModel } from './helpers';
import { jsThreadBusyMs } from './js-thread-time';

const W = 4000;
const H = 3000;
// Old code: 11–92 ms per image; new: 0.4–3.4 ms. The best of three runs is compared.
const LIMIT_MS = 8;

let dir: string;
beforeAll(async () => {
  dir = tempDir();
  const rgb = Buffer.alloc(W * H * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 7919) % 251;
  await sharp(rgb, { raw: { width: W, height: H, channels: 3 } })
    .jpeg()
    .toFile(path.join(dir, 'big.jpg'));
  // A Uint16Array, so sharp takes the raw samples as 16-bit.
  const grey16 = new Uint16Array(W * H);
  for (let i = 0; i < W * H; i++) grey16[i] = (i * 13) % 4096;
  await sharp(grey16, { raw: { width: W, height: H, channels: 1 } })
    .toColourspace('grey16')
    .png()
    .toFile(path.join(dir, 'big16.png'));
  const mask = Buffer.alloc(W * H);
  for (let i = 0; i < W * H; i++) mask[i] = i % 5 === 0 ? 255 : 0;
  await sharp(mask, { raw: { width: W, height: H, channels: 1 } })
    .png()
    .toFile(path.join(dir, 'mask.png'));
  // Warm-up: the helper thread starts on first use.
  await readImage(path.join(dir, 'big.jpg'));
}, 120_000);

// A collection before each measured call, so the garbage of the previous one (12 MB
// buffers) is not collected on the JS thread in the middle of this one. vitest's forks
// do not pass --expose-gc; V8 exposes it at run time in a fresh context.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

async function busy(label: string, work: () => Promise<unknown>): Promise<number> {
  const runs: number[] = [];
  for (let i = 0; i < 3; i++) {
    gc();
    runs.push((await jsThreadBusyMs(work)).busyMs);
  }
  console.log(`${label}: JS-thread busy ${runs.map((r) => r.toFixed(1)).join(', ')} ms`);
  return Math.min(...runs);
}

describe('per-pixel work of readImage / readMask is off the JS thread (12 MP)', () => {
  it('8-bit JPEG', async () => {
    expect(await busy('readImage jpeg', () => readImage(path.join(dir, 'big.jpg')))).toBeLessThan(LIMIT_MS);
  });
  it('16-bit PNG, scaled and windowed', async () => {
    expect((await sharp(path.join(dir, 'big16.png')).metadata()).depth).toBe('ushort');
    expect(await busy('readImage png16', () => readImage(path.join(dir, 'big16.png')))).toBeLessThan(
      LIMIT_MS,
    );
    expect(
      await busy('readImage png16 window', () =>
        readImage(path.join(dir, 'big16.png'), { window: [0, 4095] }),
      ),
    ).toBeLessThan(LIMIT_MS);
  });
  it('mask', async () => {
    const m = await readMask(path.join(dir, 'mask.png'));
    expect(m.data[0]).toBe(1);
    expect(m.data[1]).toBe(0);
    expect(await busy('readMask', () => readMask(path.join(dir, 'mask.png')))).toBeLessThan(LIMIT_MS);
  });
});

/** The testkit decoder plus a 64 MiB initializer on its full-resolution branch (pruned away for the cascade). */
function ballastDecoder(): Uint8Array {
  const spec = buildTestkitDecoderGraph();
  const nodes: NodeSpec[] = spec.nodes.map((n) => ({
    ...n,
    outputs: n.outputs.map((o) => (o === 'masks' ? 'masks_pre' : o)),
  }));
  nodes.push({
    opType: 'ReduceMax',
    inputs: ['p2sam_ballast'],
    outputs: ['ballast_max'],
    name: 'ballast_max',
    attributes: { keepdims: 0 },
  });
  nodes.push({
    opType: 'Mul',
    inputs: ['ballast_max', 'p2sam_zero'],
    outputs: ['ballast_zero'],
    name: 'ballast_zero',
  });
  nodes.push({
    opType: 'Add',
    inputs: ['masks_pre', 'ballast_zero'],
    outputs: ['masks'],
    name: 'ballast_add',
  });
  const n = 16 * 1024 * 1024;
  return encodeTestkitGraph(
    {
      ...spec,
      nodes,
      initializers: [
        ...(spec.initializers ?? []),
        { name: 'p2sam_ballast', type: 'float32', dims: [n], data: new Float32Array(n).fill(0.5) },
        { name: 'p2sam_zero', type: 'float32', dims: [], data: [0] },
      ],
    },
    'decoder',
  ).model;
}

describe('decoder pruning in P2SAM.load is off the JS thread', () => {
  it('a 67 MB decoder', async () => {
    const m = await testkitModel();
    const decoder = path.join(tempDir(), 'ballast-decoder.onnx');
    writeFileSync(decoder, ballastDecoder());
    const load = async () => {
      const model = await P2SAM.load({ encoder: m.encoder, decoder, threads: 1 });
      expect(model.info.decoder.cascade).toBe('pruned');
      await model.dispose();
    };
    expect(await busy('P2SAM.load 67 MB decoder', load)).toBeLessThan(LIMIT_MS * 2);
  }, 120_000);
});
