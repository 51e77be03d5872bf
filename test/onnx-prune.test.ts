/**
 * lib/onnx/prune.ts: removing the decoder's full-resolution `masks` output (and the
 * nodes only it needed) gives a model ONNX Runtime loads, without `masks`, whose
 * remaining outputs are bit-identical to the full model's.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { encodeModel } from '../lib/onnx/graph';
import { graphOutputs, pruneOutputs } from '../lib/onnx/prune';
import { fixtureTruncatedModelBytes, testkitDecoderBytes, testkitEncoderBytes } from '../lib/testkit';
import { mulberry32 } from '../lib/testkit/prng';

const quiet = { logSeverityLevel: 3 as const, intraOpNumThreads: 1, graphOptimizationLevel: 'all' as const };

function decoderFeeds(seed: number, withMask: boolean): Record<string, ort.Tensor> {
  // Deterministic pseudo-random embedding so the two models see identical inputs.
  const rnd = mulberry32(seed);
  const emb = new Float32Array(256 * 64 * 64);
  for (let i = 0; i < emb.length; i++) emb[i] = rnd();
  const mask = new Float32Array(256 * 256);
  if (withMask) for (let i = 0; i < mask.length; i++) mask[i] = (rnd() - 0.5) * 20;
  return {
    image_embeddings: new ort.Tensor('float32', emb, [1, 256, 64, 64]),
    // A positive and a negative point, then a box (labels 2/3) in the 1024 frame.
    point_coords: new ort.Tensor(
      'float32',
      Float32Array.from([500, 400, 100, 90, 300, 200, 800, 700]),
      [1, 4, 2],
    ),
    point_labels: new ort.Tensor('float32', Float32Array.from([1, 0, 2, 3]), [1, 4]),
    mask_input: new ort.Tensor('float32', mask, [1, 1, 256, 256]),
    has_mask_input: new ort.Tensor('float32', Float32Array.from([withMask ? 1 : 0]), [1]),
    orig_im_size: new ort.Tensor('float32', Float32Array.from([600, 800]), [2]),
  };
}

function sameBits(a: ort.Tensor, b: ort.Tensor): boolean {
  const x = a.data as Float32Array;
  const y = b.data as Float32Array;
  return Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(
    Buffer.from(y.buffer, y.byteOffset, y.byteLength),
  );
}

describe('pruneOutputs on SAM-format decoders', () => {
  for (const variant of ['basic', 'sam-sized'] as const) {
    it(`${variant}: the pruned decoder loads, lacks masks, and its low_res_masks/iou equal the full model's bit for bit`, async () => {
      const full = testkitDecoderBytes({ variant });
      expect(graphOutputs(full).sort()).toEqual(['iou_predictions', 'low_res_masks', 'masks']);
      const r = pruneOutputs(full, ['masks']);
      expect(r.removedOutputs).toEqual(['masks']);
      expect(r.keptOutputs.sort()).toEqual(['iou_predictions', 'low_res_masks']);
      expect(graphOutputs(r.model).sort()).toEqual(['iou_predictions', 'low_res_masks']);
      // The post-processing (256→1024 resize, crop, resize to H×W and the size arithmetic) is dead.
      expect(r.removedNodes).toBeGreaterThan(0);
      expect(r.removedNodes).toBeLessThan(r.nodes / 2);

      const a = await ort.InferenceSession.create(full, quiet);
      const b = await ort.InferenceSession.create(r.model, quiet);
      expect(b.outputNames).not.toContain('masks');
      expect([...b.inputNames].sort()).toEqual([...a.inputNames].sort());
      for (const [seed, withMask] of [
        [1, false],
        [2, true],
      ] as const) {
        const feeds = decoderFeeds(seed, withMask);
        const ra = await a.run(feeds);
        const rb = await b.run(feeds);
        expect(ra.masks.dims).toEqual([1, 4, 600, 800]);
        expect(rb.masks).toBeUndefined();
        expect(rb.low_res_masks.dims).toEqual([1, 4, 256, 256]);
        expect(sameBits(ra.low_res_masks, rb.low_res_masks)).toBe(true);
        expect(sameBits(ra.iou_predictions, rb.iou_predictions)).toBe(true);
        // Not a vacuous comparison: the logits are not all one value.
        const low = rb.low_res_masks.data as Float32Array;
        expect(Math.max(...low.subarray(0, 65536))).toBeGreaterThan(Math.min(...low.subarray(0, 65536)));
      }
      await a.release();
      await b.release();
    });
  }

  it('ONNX Runtime really runs fewer nodes: its optimised graph of the pruned decoder is smaller', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'p2sam-prune-'));
    const full = testkitDecoderBytes({ variant: 'sam-sized' });
    const pruned = pruneOutputs(full, ['masks']).model;
    const count = async (bytes: Uint8Array, name: string) => {
      const file = path.join(dir, name);
      const s = await ort.InferenceSession.create(bytes, { ...quiet, optimizedModelFilePath: file });
      await s.release();
      // Node count of ORT's optimised graph, read with the same wire parser.
      const opt = new Uint8Array(readFileSync(file));
      return pruneOutputs(opt, [graphOutputs(opt)[0]!], { removeDeadNodes: false }).nodes;
    };
    const nFull = await count(full, 'full.onnx');
    const nPruned = await count(pruned, 'pruned.onnx');
    expect(nPruned).toBeLessThan(nFull);
  });

  it('removeDeadNodes: false drops only the declaration; every node stays', async () => {
    const full = testkitDecoderBytes({ variant: 'basic' });
    const r = pruneOutputs(full, ['masks'], { removeDeadNodes: false });
    expect(r.removedNodes).toBe(0);
    expect(r.removedInitializers).toBe(0);
    expect(pruneOutputs(r.model, ['iou_predictions'], { removeDeadNodes: false }).nodes).toBe(r.nodes);
    // Exactly the ValueInfoProto of `masks` (and at most a shorter length prefix) went.
    const lost = full.length - r.model.length;
    expect(lost).toBeGreaterThan(10);
    expect(lost).toBeLessThan(120);
    const s = await ort.InferenceSession.create(r.model, quiet);
    expect(s.outputNames).not.toContain('masks');
    await s.release();
  });

  it('keeps nodes that a live subgraph reads from the outer scope', async () => {
    // y = If(cond) { then: z + 1, else: z - 1 } where z = x * 2 is read only inside the
    // branches (an implicit input); w = Neg(x) is the output we remove.
    const branch = (op: 'Add' | 'Sub', name: string) => ({
      name,
      inputs: [],
      outputs: [{ name: `${name}_out`, type: 'float32' as const, shape: [2] }],
      nodes: [{ opType: op, inputs: ['z', 'one'], outputs: [`${name}_out`] }],
    });
    const model = encodeModel({
      graph: {
        name: 'if-capture',
        inputs: [
          { name: 'x', type: 'float32', shape: [2] },
          { name: 'cond', type: 'bool', shape: [] },
        ],
        outputs: [
          { name: 'y', type: 'float32', shape: [2] },
          { name: 'w', type: 'float32', shape: [2] },
        ],
        initializers: [
          { name: 'two', type: 'float32', dims: [], data: [2] },
          { name: 'one', type: 'float32', dims: [], data: [1] },
        ],
        nodes: [
          { opType: 'Mul', inputs: ['x', 'two'], outputs: ['z'] },
          { opType: 'Neg', inputs: ['x'], outputs: ['w'] },
          {
            opType: 'If',
            inputs: ['cond'],
            outputs: ['y'],
            attributes: {
              then_branch: { kind: 'graph', value: branch('Add', 'then') },
              else_branch: { kind: 'graph', value: branch('Sub', 'else') },
            },
          },
        ],
      },
      opsetImports: [{ domain: '', version: 17 }],
    }).model;
    const r = pruneOutputs(model, ['w']);
    expect(r.removedNodes).toBe(1); // only Neg
    const s = await ort.InferenceSession.create(r.model, quiet);
    const out = await s.run({
      x: new ort.Tensor('float32', Float32Array.from([1, 3]), [2]),
      cond: new ort.Tensor('bool', [true], []),
    });
    expect(Array.from(out.y.data as Float32Array)).toEqual([3, 7]);
    expect(s.outputNames).toEqual(['y']);
    await s.release();
  });

  it('keeps external-data references verbatim: the pruned model still finds its weight file', async () => {
    // y = x · W with W (64×64 floats, 16 KiB) in a side file, plus a removable w = Neg(x).
    const W = Float32Array.from({ length: 64 * 64 }, (_, i) => ((i * 37) % 101) / 100 - 0.5);
    const enc = encodeModel(
      {
        graph: {
          name: 'external',
          inputs: [{ name: 'x', type: 'float32', shape: [1, 64] }],
          outputs: [
            { name: 'y', type: 'float32', shape: [1, 64] },
            { name: 'w', type: 'float32', shape: [1, 64] },
          ],
          initializers: [{ name: 'W', type: 'float32', dims: [64, 64], data: W }],
          nodes: [
            { opType: 'MatMul', inputs: ['x', 'W'], outputs: ['y'] },
            { opType: 'Neg', inputs: ['x'], outputs: ['w'] },
          ],
        },
        opsetImports: [{ domain: '', version: 17 }],
      },
      { externalData: { location: 'weights.bin' } },
    );
    expect(enc.externalData).not.toBeNull();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'p2sam-prune-ext-'));
    writeFileSync(path.join(dir, 'weights.bin'), enc.externalData!);
    const r = pruneOutputs(enc.model, ['w']);
    expect(r.removedNodes).toBe(1);
    writeFileSync(path.join(dir, 'full.onnx'), enc.model);
    writeFileSync(path.join(dir, 'pruned.onnx'), r.model);
    const x = new ort.Tensor(
      'float32',
      Float32Array.from({ length: 64 }, (_, i) => i / 64),
      [1, 64],
    );
    const a = await ort.InferenceSession.create(path.join(dir, 'full.onnx'), quiet);
    const b = await ort.InferenceSession.create(path.join(dir, 'pruned.onnx'), quiet);
    const ya = (await a.run({ x })).y;
    const yb = (await b.run({ x })).y;
    expect(b.outputNames).toEqual(['y']);
    expect(sameBits(ya, yb)).toBe(true);
    expect(Math.abs((yb.data as Float32Array)[5])).toBeGreaterThan(0);
    await a.release();
    await b.release();
  });
});

describe('pruneOutputs errors name the parameter', () => {
  const dec = testkitDecoderBytes({ variant: 'basic' });
  it('rejects non-bytes, empty and malformed models', () => {
    expect(() => pruneOutputs('model.onnx' as unknown as Uint8Array, ['masks'])).toThrow(
      /^model: expected a Uint8Array.*received "model.onnx"/,
    );
    expect(() => pruneOutputs(new Uint8Array(0), ['masks'])).toThrow(/model: .*empty buffer/);
    expect(() => pruneOutputs(fixtureTruncatedModelBytes(), ['masks'])).toThrow(
      /model: not a valid ONNX protobuf/,
    );
    expect(() => graphOutputs(new TextEncoder().encode('hello, not onnx\n'))).toThrow(/^model: /);
  });
  it('rejects unknown names, listing the real outputs, and empty requests', () => {
    expect(() => pruneOutputs(dec, ['mask'])).toThrow(
      /remove: "mask" is not an output of this graph; its outputs are .*"masks"/,
    );
    expect(() => pruneOutputs(dec, [])).toThrow(/remove: expected a non-empty array/);
    expect(() => pruneOutputs(dec, ['masks', 'iou_predictions', 'low_res_masks'])).toThrow(
      /remove: .*no output/,
    );
    expect(() => pruneOutputs(testkitEncoderBytes(), ['image_embeddings'])).toThrow(
      /remove: removing image_embeddings would leave the graph with no output/,
    );
    expect(() => pruneOutputs(dec, ['masks'], { removeDeadNodes: 'yes' as unknown as boolean })).toThrow(
      /options.removeDeadNodes: expected a boolean/,
    );
  });
});
