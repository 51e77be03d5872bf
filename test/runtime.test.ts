/**
 * native/runtime: the ONNX Runtime runner through the addon with the real testkit graphs —
 * model-kind detection, output shapes, the documented decoder semantics, off-thread
 * execution, and clear errors for bad models.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { P2SAM, P2SamError } from '../lib';
import { inspectModel } from '../lib/inspect';
import { testkitDecoderBytes, testkitEncoderBytes, testkitFixtureBytes } from '../lib/testkit';
import { area, maskIou, paintImage, rectMask, tempDir, testkitModel } from './helpers';
import { jsThreadBusyMs } from './js-thread-time';

const RED: [number, number, number] = [220, 30, 30];
const GREEN: [number, number, number] = [30, 200, 40];
const GREY: [number, number, number] = [128, 128, 128];

// 400×300: red block left, green block right, on grey.
const scene = paintImage(400, 300, GREY, [
  { x0: 40, y0: 60, x1: 180, y1: 220, color: RED },
  { x0: 220, y0: 60, x1: 360, y1: 220, color: GREEN },
]);
const redTruth = rectMask(400, 300, [{ x0: 40, y0: 60, x1: 180, y1: 220 }]).data;
const bothTruth = rectMask(400, 300, [
  { x0: 40, y0: 60, x1: 180, y1: 220 },
  { x0: 220, y0: 60, x1: 360, y1: 220 },
]).data;

let model: P2SAM;
let paths: { encoder: string; decoder: string };

beforeAll(async () => {
  paths = await testkitModel();
  model = await P2SAM.load({ encoder: paths.encoder, decoder: paths.decoder, threads: 2 });
});

describe('model detection', () => {
  it('recognises the samexporter-style encoder and the 4-mask SAM v1 decoder', () => {
    expect(model.info.encoder.kind).toBe('sam-encoder-image');
    expect(model.info.encoder.inputs.map((t) => t.name)).toEqual(['input_image']);
    expect(model.info.encoder.outputs.map((t) => t.name)).toEqual(['image_embeddings']);
    expect(model.info.decoder.kind).toBe('sam-decoder');
    expect(model.info.decoder.maskOutputs).toBe(4);
    expect(model.info.decoder.inputs.map((t) => t.name).sort()).toEqual([
      'has_mask_input',
      'image_embeddings',
      'mask_input',
      'orig_im_size',
      'point_coords',
      'point_labels',
    ]);
    expect(model.info.decoder.outputs.map((t) => t.name).sort()).toEqual([
      'iou_predictions',
      'low_res_masks',
      'masks',
    ]);
    // Default device 'auto': the maths goes to a GPU where the kernels can run, the
    // sessions only where ORT's CUDA provider is installed too.
    const cuda = P2SAM.backends().cuda;
    expect(model.info.device).toBe(cuda.kernelsAvailable ? 'cuda' : 'cpu');
    expect(model.info.modelDevice).toBe(cuda.available ? 'cuda' : 'cpu');
  });

  it('loads from buffers as well as from paths, and the preprocessed-form encoder gives the same embedding', async () => {
    const fromBytes = await P2SAM.load({
      encoder: testkitEncoderBytes(),
      decoder: testkitDecoderBytes(),
      threads: 1,
    });
    const pre = await P2SAM.load({
      encoder: testkitEncoderBytes({ form: 'preprocessed' }),
      decoder: testkitDecoderBytes(),
      threads: 1,
    });
    expect(pre.info.encoder.kind).toBe('sam-encoder-preprocessed');
    const a = (await fromBytes.encode(scene)).toFloat32Array();
    const b = (await pre.encode(scene)).toFloat32Array();
    expect(a.length).toBe(256 * 64 * 64);
    let maxDiff = 0;
    for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
    expect(maxDiff).toBeLessThan(1e-3);
    await fromBytes.dispose();
    await pre.dispose();
  });

  it('recognises a single-mask decoder export and an encoder with dynamic output dims', async () => {
    const m = await P2SAM.load({
      encoder: testkitFixtureBytes('dynamic-output-encoder'),
      decoder: testkitFixtureBytes('single-mask-decoder'),
      threads: 1,
    });
    expect(m.info.decoder.maskOutputs).toBe(1);
    const e = await m.encode(scene);
    expect(e.toFloat32Array().length).toBe(256 * 64 * 64);
    await m.dispose();
  });

  it('loads an encoder whose weights live in an external data file beside it', async () => {
    const { writeTestkitModel } = await import('../lib/testkit');
    const dir = path.join(tempDir(), 'ext');
    const p = await writeTestkitModel(dir, { externalData: true });
    const m = await P2SAM.load({ encoder: p.encoder, decoder: p.decoder, threads: 1 });
    const a = (await m.encode(scene)).toFloat32Array();
    const b = (await model.encode(scene)).toFloat32Array();
    expect(Array.from(a.subarray(0, 512))).toEqual(Array.from(b.subarray(0, 512)));
    await m.dispose();
  });
});

describe('encoder + decoder semantics (docs/testkit.md)', () => {
  it('embedding geometry follows SAM resize-longest-side', async () => {
    const e = await model.encode(scene);
    expect([e.width, e.height, e.inputWidth, e.inputHeight]).toEqual([400, 300, 1024, 768]);
  });

  it('one point on the red block selects the red block only; one per block selects both', async () => {
    const e = await model.encode(scene);
    const one = await model.predict(e, { points: [{ x: 100, y: 140, label: 1 }] });
    expect(one.channels).toBe(4);
    expect(one.masks).toHaveLength(4);
    expect(one.masks[0].length).toBe(400 * 300);
    expect(one.lowRes.length).toBe(4 * 256 * 256);
    expect(maskIou(one.masks[0], redTruth)).toBeGreaterThan(0.9);
    const two = await model.predict(e, {
      points: [
        { x: 100, y: 140, label: 1 },
        { x: 300, y: 140, label: 1 },
      ],
    });
    expect(maskIou(two.masks[0], bothTruth)).toBeGreaterThan(0.9);
  });

  it('a box zeroes everything outside it', async () => {
    const e = await model.encode(scene);
    const r = await model.predict(e, {
      points: [
        { x: 100, y: 140, label: 1 },
        { x: 300, y: 140, label: 1 },
      ],
      box: [0, 0, 199, 299],
    });
    let outside = 0;
    for (let y = 0; y < 300; y++) for (let x = 216; x < 400; x++) outside += r.masks[0][y * 400 + x];
    expect(outside).toBe(0);
    expect(area(r.masks[0])).toBeGreaterThan(0.8 * area(redTruth));
  });

  it('a negative point removes the region it sits on', async () => {
    const e = await model.encode(scene);
    const r = await model.predict(e, {
      points: [
        { x: 100, y: 140, label: 1 },
        { x: 300, y: 140, label: 0 },
      ],
    });
    expect(maskIou(r.masks[0], redTruth)).toBeGreaterThan(0.9);
  });

  it('rejects malformed prompts with typed errors naming the parameter', async () => {
    const e = await model.encode(scene);
    await expect(model.predict(e, { points: [{ x: Number.NaN, y: 1, label: 1 }] })).rejects.toThrow(
      /prompt.points\[0\].x/,
    );
    await expect(model.predict(e, { points: [{ x: 1, y: 1, label: 2 as 1 }] })).rejects.toThrow(RangeError);
    await expect(model.predict(e, {})).rejects.toThrow(/at least one point/);
  });
});

describe('off the JS thread', () => {
  it('leaves the JS thread free while encoders run (its own CPU < 15 ms per encode)', async () => {
    // A 1024×1024 image keeps the encoder busy; run several back to back. What is
    // measured is the JS thread's own CPU time (test/js-thread-time.ts) — what our code
    // costs the event loop — not wall-clock lag, which a loaded machine inflates.
    const single = await P2SAM.load({
      encoder: paths.encoder,
      decoder: paths.decoder,
      threads: 1,
      concurrency: 1,
    });
    const big = paintImage(1024, 1024, GREY, [{ x0: 100, y0: 100, x1: 600, y1: 700, color: RED }]);
    (await single.encode(big)).dispose();
    const runs = 5;
    const { busyMs } = await jsThreadBusyMs(async () => {
      for (let i = 0; i < runs; i++) (await single.encode(big)).dispose();
    });
    await single.dispose();
    console.log(`encode 1024×1024: JS-thread busy ${(busyMs / runs).toFixed(1)} ms per call`);
    expect(busyMs / runs).toBeLessThan(15);
  });
});

describe('bad models give a P2SamError with a stable code', () => {
  async function loadError(encoder: string | Uint8Array, decoder: string | Uint8Array): Promise<P2SamError> {
    try {
      const m = await P2SAM.load({ encoder, decoder, threads: 1 });
      await m.dispose();
    } catch (e) {
      expect(e).toBeInstanceOf(P2SamError);
      return e as P2SamError;
    }
    throw new Error('expected P2SAM.load to fail');
  }

  it('missing file', async () => {
    const e = await loadError('/nonexistent/encoder.onnx', paths.decoder);
    expect(e.code).toBe('MODEL_NOT_FOUND');
    expect(e.message).toContain('/nonexistent/encoder.onnx');
  });

  it('non-ONNX bytes and a truncated file', async () => {
    expect((await loadError(testkitFixtureBytes('not-onnx'), paths.decoder)).code).toBe('MODEL_INVALID');
    const file = path.join(tempDir(), 'truncated.onnx');
    writeFileSync(file, testkitFixtureBytes('truncated-model'));
    const e = await loadError(paths.encoder, file);
    expect(e.code).toBe('MODEL_INVALID');
    expect(e.message).toMatch(/decoder/);
  });

  it('an encoder given as the decoder, and a decoder given as the encoder', async () => {
    const e1 = await loadError(paths.encoder, paths.encoder);
    expect(e1.code).toBe('MODEL_MISMATCH');
    expect(e1.message).toMatch(/given as the decoder is a SAM image encoder/);
    const e2 = await loadError(paths.decoder, paths.decoder);
    expect(e2.code).toBe('MODEL_MISMATCH');
  });

  it('SAM 2 graphs are recognised and refused', async () => {
    const e = await loadError(testkitFixtureBytes('sam2-encoder'), paths.decoder);
    expect(e.code).toBe('MODEL_UNSUPPORTED');
    expect(e.message).toMatch(/SAM 2/);
    const d = await loadError(paths.encoder, testkitFixtureBytes('sam2-decoder'));
    expect(d.code).toBe('MODEL_UNSUPPORTED');
  });

  it('a decoder with a misnamed input names the missing input', async () => {
    const e = await loadError(paths.encoder, testkitFixtureBytes('wrong-input-name-decoder'));
    expect(e.code).toBe('MODEL_UNSUPPORTED');
    expect(e.message).toContain('image_embeddings');
    expect(e.message).toContain('unexpected input(s): image_embedding');
  });

  it('an unrelated model is refused with its signature', async () => {
    const e = await loadError(testkitFixtureBytes('unrelated-model'), paths.decoder);
    expect(e.code).toBe('MODEL_UNSUPPORTED');
    expect(e.message).toMatch(/inputs x float32\[2,3\]/);
  });

  it('inspectModel reports kinds without loading a pair', async () => {
    const dir = tempDir();
    const sam2 = path.join(dir, 'sam2.onnx');
    writeFileSync(sam2, testkitFixtureBytes('sam2-encoder'));
    expect((await inspectModel(paths.encoder)).kind).toBe('sam-encoder-image');
    const d = await inspectModel(paths.decoder);
    expect([d.kind, d.role, d.usable, d.maskOutputs]).toEqual(['sam-decoder', 'decoder', true, 4]);
    const s = await inspectModel(sam2);
    expect([s.kind, s.usable]).toEqual(['sam2-encoder', false]);
  });
});
