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
  const points = p.points ?? [];
  if (!Array.isArray(points)) v.fail('type', 'prompt.points', 'an array of { x, y, label }', points);
  const sx = embedding.inputWidth / embedding.width;
  const sy = embedding.inputHeight / embedding.height;
  const coords: number[] = [];
  const labels: number[] = [];
  points.forEach((pt, i) => {
    if (!v.isPlainObject(pt)) v.fail('type', `prompt.points[${i}]`, '{ x, y, label }', pt);
    coords.push(v.finiteNumber(`prompt.points[${i}].x`, pt.x, -1e6, 1e6) * sx, v.finiteNumber(`prompt.points[${i}].y`, pt.y, -1e6, 1e6) * sy);
    if (pt.label !== 0 && pt.label !== 1) v.fail('range', `prompt.points[${i}].label`, '0 (negative) or 1 (positive)', pt.label);
    labels.push(pt.label);
  });
  if (p.box !== undefined) {
    const b = p.box;
    if (!Array.isArray(b) || b.length !== 4) v.fail('type', 'prompt.box', '[xmin, ymin, xmax, ymax]', b);
    b.forEach((x, i) => {
      v.finiteNumber(`prompt.box[${i}]`, x, -1e6, 1e6);
    });
    if (b[0] > b[2] || b[1] > b[3]) throw new RangeError(`prompt.box must have xmin ≤ xmax and ymin ≤ ymax; received [${b.join(', ')}]`);
    coords.push(b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy);
    labels.push(2, 3);
  } else {
    // SAM's ONNX decoder marks "no box" with a padding point (0,0) labelled −1.
    coords.push(0, 0);
    labels.push(-1);
  }
  if (labels.length === 1 && p.maskInput === undefined)
    throw new RangeError('prompt must contain at least one point, a box or a maskInput; received none');
  let maskInput: Float32Array | null = null;
  if (p.maskInput !== undefined) {
    if (!(p.maskInput instanceof Float32Array) || p.maskInput.length !== 256 * 256)
      v.fail('type', 'prompt.maskInput', 'a Float32Array of 256×256 low-res logits', p.maskInput);
    maskInput = p.maskInput;
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
  return { masks, logits, iou: r.iou, lowRes: r.lowRes, channels: r.channels, width: r.width, height: r.height };
}
