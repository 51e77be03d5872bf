/**
 * Issue 15 — a decoder that emits ±Infinity logits (an fp16 export that saturates) must
 * not give a mask with holes: interpolating +Inf with a zero weight gives NaN, and NaN
 * is not > 0. Infinite logits keep their meaning (certainly inside / outside); NaN
 * logits anywhere remain MODEL_OUTPUT_INVALID.
 *
 * The decoder is the testkit decoder with both logit outputs saturated in-graph: every
 * non-zero logit becomes ±Inf with its sign kept.
 */
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { P2SAM } from '../lib';
import type { NodeSpec } from '../lib/onnx/graph';
import { encodeTestkitGraph } from '../lib/testkit';
import { buildTestkitDecoderGraph } from '../lib/testkit/decoder';
import { makeScene } from '../lib/testkit/scenes';
import { tempDir, testkitModel } from './helpers';

function infiniteLogitDecoder(): Uint8Array {
  const spec = buildTestkitDecoderGraph();
  const logitOutputs = new Set(['low_res_masks', 'masks']);
  const nodes: NodeSpec[] = spec.nodes.map((n) => ({
    ...n,
    outputs: n.outputs.map((o) => (logitOutputs.has(o) ? `${o}_finite` : o)),
  }));
  // Where(x > 0, +Inf, Where(x < 0, −Inf, x)): no 0·Inf anywhere in the graph, so no
  // NaN of its own (ONNX Runtime would fold two ×1e30 into one ×Inf and make 0 a NaN).
  for (const name of logitOutputs) {
    const x = `${name}_finite`;
    nodes.push({
      opType: 'Greater',
      inputs: [x, 'p2sam_zero'],
      outputs: [`${name}_pos`],
      name: `${name}_pos`,
    });
    nodes.push({ opType: 'Less', inputs: [x, 'p2sam_zero'], outputs: [`${name}_neg`], name: `${name}_neg` });
    nodes.push({
      opType: 'Where',
      inputs: [`${name}_neg`, 'p2sam_minus_inf', x],
      outputs: [`${name}_lo`],
      name: `${name}_lo`,
    });
    nodes.push({
      opType: 'Where',
      inputs: [`${name}_pos`, 'p2sam_plus_inf', `${name}_lo`],
      outputs: [name],
      name: `${name}_sat`,
    });
  }
  const graph = {
    ...spec,
    nodes,
    initializers: [
      ...(spec.initializers ?? []),
      { name: 'p2sam_zero', type: 'float32' as const, dims: [], data: [0] },
      { name: 'p2sam_plus_inf', type: 'float32' as const, dims: [], data: [Infinity] },
      { name: 'p2sam_minus_inf', type: 'float32' as const, dims: [], data: [-Infinity] },
    ],
  };
  return encodeTestkitGraph(graph, 'decoder').model;
}

/** Unset pixels of `m` whose neighbours above and below, or left and right, are set: a
 * row or column of NaN through an object. */
function holes(m: Uint8Array, w: number, h: number): number {
  let n = 0;
  for (let y = 1; y < h - 1; y++)
    for (let x = 1; x < w - 1; x++) {
      const p = y * w + x;
      if (!m[p] && ((m[p - w] && m[p + w]) || (m[p - 1] && m[p + 1]))) n++;
    }
  return n;
}

function iou(a: Uint8Array, b: Uint8Array): number {
  let inter = 0;
  let union = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] && b[i]) inter++;
    if (a[i] || b[i]) union++;
  }
  return inter / union;
}

const W = 320;
const H = 240;
let finite: P2SAM;
let infinite: P2SAM;

beforeAll(async () => {
  const m = await testkitModel();
  const decoder = path.join(tempDir(), 'inf-decoder.onnx');
  writeFileSync(decoder, infiniteLogitDecoder());
  finite = await P2SAM.load({ ...m, threads: 1 });
  infinite = await P2SAM.load({ encoder: m.encoder, decoder, threads: 1 });
});

afterAll(async () => {
  await finite?.dispose();
  await infinite?.dispose();
});

describe('a decoder emitting ±Infinity logits', () => {
  it('segment gives the object without holes', async () => {
    const ref = makeScene({ width: W, height: H, seed: 4, scale: 0.55 });
    const target = makeScene({
      width: W,
      height: H,
      seed: 4,
      noiseSeed: 2,
      center: [0.55, 0.5],
      scale: 0.55,
    });
    const rf = await finite.createReference(
      { image: ref.image, mask: ref.mask },
      { parts: { min: 1, max: 3 } },
    );
    const ri = await infinite.createReference(
      { image: ref.image, mask: ref.mask },
      { parts: { min: 1, max: 3 } },
    );
    const a = await finite.segment(target.image, { reference: rf });
    const b = await infinite.segment(target.image, { reference: ri });
    // The same object as with finite logits (the boundary moves a little: saturated
    // logits interpolate differently), and no line of NaN through it.
    expect(iou(a.mask, b.mask)).toBeGreaterThan(0.9);
    expect(holes(b.mask, W, H)).toBe(0);
    for (const c of b.candidates) if (c.score !== null) expect(Number.isFinite(c.score)).toBe(true);
  });

  it('predict returns finite logits whose sign is the mask', async () => {
    const target = makeScene({
      width: W,
      height: H,
      seed: 4,
      noiseSeed: 2,
      center: [0.55, 0.5],
      scale: 0.55,
    });
    const ei = await infinite.encode(target.image);
    const r = await infinite.predict(ei, { points: [{ x: W * 0.55, y: H * 0.5, label: 1 }] });
    for (const v of r.lowRes) expect(Number.isFinite(v)).toBe(true);
    for (let i = 0; i < r.logits.length; i += 97) expect(Number.isFinite(r.logits[i]!)).toBe(true);
    ei.dispose();
  });
});
