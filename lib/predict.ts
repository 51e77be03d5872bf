/**
 * P2SAM.predict's prompt checks and result shaping: one plain SAM decoder pass, with
 * points and box given in original-image pixels and mapped to SAM's 1024 frame here.
 */
import type { Embedding } from './embedding';
import type { NativeDecodeResult } from './native';
import type { PromptPoint } from './types';
import * as v from './validate';

/** The prompt of one SAM decoder pass ({@link P2SAM.predict}). */
export interface PredictPrompt {
  points?: PromptPoint[];
  /** [xmin, ymin, xmax, ymax] in original pixels, inclusive. */
  box?: [number, number, number, number];
  /** 256×256 low-res logits of an earlier pass (SAM's mask prompt). */
  maskInput?: Float32Array;
}

/** Every mask channel of one SAM decoder pass. */
export interface PredictResult {
  /** One binary (0/1) width×height mask per decoder channel (logits > 0). */
  masks: Uint8Array[];
  /** channels × height × width logits at the original size. */
  logits: Float32Array;
  iou: Float32Array;
  /** channels × 256 × 256 low-res logits (feed one back as maskInput). */
  lowRes: Float32Array;
  channels: number;
  width: number;
  height: number;
}

/** @internal A checked prompt in the decoder's frame. */
export interface DecoderPrompt {
  coords: Float32Array;
  labels: Float32Array;
  maskInput: Float32Array | null;
}

/**
 * @internal Validates `prompt` and maps it to the 1024 frame of `embedding`. Throws
 * TypeError/RangeError naming the offending field.
 */
export function decoderPrompt(embedding: Embedding, prompt: unknown): DecoderPrompt {
  if (!v.isPlainObject(prompt)) v.fail('type', 'prompt', '{ points?, box?, maskInput? }', prompt);
  const p = prompt as PredictPrompt;
  // Every value is read once, into what is checked and sent: a getter or Proxy cannot
  // pass the checks with one value and reach the decoder with another (NaN, label 7).
  const points: unknown = p.points ?? [];
  if (!Array.isArray(points)) v.fail('type', 'prompt.points', 'an array of { x, y, label }', points);
  const sx = embedding.inputWidth / embedding.width;
  const sy = embedding.inputHeight / embedding.height;
  const coords: number[] = [];
  const labels: number[] = [];
  [...(points as unknown[])].forEach((pt, i) => {
    if (!v.isPlainObject(pt)) v.fail('type', `prompt.points[${i}]`, '{ x, y, label }', pt);
    const { x, y, label } = pt;
    coords.push(
      v.finiteNumber(`prompt.points[${i}].x`, x, -1e6, 1e6) * sx,
      v.finiteNumber(`prompt.points[${i}].y`, y, -1e6, 1e6) * sy,
    );
    if (label !== 0 && label !== 1)
      v.fail('range', `prompt.points[${i}].label`, '0 (negative) or 1 (positive)', label);
    labels.push(label);
  });
  const boxIn: unknown = p.box;
  if (boxIn !== undefined) {
    if (!Array.isArray(boxIn) || boxIn.length !== 4)
      v.fail('type', 'prompt.box', '[xmin, ymin, xmax, ymax]', boxIn);
    const b = [...(boxIn as unknown[])].map((x, i) => v.finiteNumber(`prompt.box[${i}]`, x, -1e6, 1e6));
    const [x0, y0, x1, y1] = b as [number, number, number, number];
    if (x0 > x1 || y0 > y1)
      throw new RangeError(`prompt.box must have xmin ≤ xmax and ymin ≤ ymax; received [${b.join(', ')}]`);
    coords.push(x0 * sx, y0 * sy, x1 * sx, y1 * sy);
    labels.push(2, 3);
  } else {
    // SAM's ONNX decoder marks "no box" with a padding point (0,0) labelled −1.
    coords.push(0, 0);
    labels.push(-1);
  }
  const maskIn: unknown = p.maskInput;
  if (labels.length === 1 && maskIn === undefined)
    throw new RangeError('prompt must contain at least one point, a box or a maskInput; received none');
  let maskInput: Float32Array | null = null;
  if (maskIn !== undefined) {
    if (!(maskIn instanceof Float32Array) || maskIn.length !== 256 * 256)
      v.fail('type', 'prompt.maskInput', 'a Float32Array of 256×256 low-res logits', maskIn);
    // A copy: the decoder runs later, the caller may reuse its array meanwhile.
    maskInput = new Float32Array(maskIn as Float32Array);
  }
  return { coords: Float32Array.from(coords), labels: Float32Array.from(labels), maskInput };
}

/** @internal Binary masks (logits > 0) next to the decoder's raw outputs. */
export function predictResult(r: NativeDecodeResult): PredictResult {
  const plane = r.width * r.height;
  const logits = r.masks!;
  const masks: Uint8Array[] = [];
  for (let c = 0; c < r.channels; c++) {
    const m = new Uint8Array(plane);
    for (let i = 0; i < plane; i++) m[i] = logits[c * plane + i] > 0 ? 1 : 0;
    masks.push(m);
  }
  return {
    masks,
    logits,
    iou: r.iou,
    lowRes: r.lowRes,
    channels: r.channels,
    width: r.width,
    height: r.height,
  };
}
