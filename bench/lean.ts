/**
 * `--only lean`: peak memory and encoder time of SAM ViT encoders with and without the
 * chunked global attention (lib/onnx/lean-attention.ts), each configuration in its own
 * process on the same inputs.
 *
 * The encoders are random-weight, real-architecture SAM image encoders (segment_anything's
 * ImageEncoderViT in build_sam's vit_b / vit_h configuration) exported by
 * python/p2sam_vit_encoder.py with Debian's python3-torch — the preprocessed-input form that
 * samexporter and Meta's notebooks produce. They are cached in P2SAM_LEAN_MODELS (default
 * $TMPDIR/p2sam-lean-models); exporting needs P2SAM_SEGMENT_ANYTHING or
 * ../shared/vendor/segment-anything. ViT-H runs only with P2SAM_LEAN_VIT_H=1 (2.5 GB of
 * weights: it needs that much disk and about 10 minutes of a free machine).
 *
 * Per configuration the child: loads (P2SAM.load; the decoder is the testkit's SAM-sized
 * decoder, since only the encoder changes), encodes the target image `reps` times (encoder
 * time = median), notes the peak RSS, then builds a reference and segments a large-object
 * target (parts 1..5, full cascade): the whole-target peak. It writes its embedding so the
 * parent can compare lean against original.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { P2SAM } from '../lib';
import { leanAttention } from '../lib/onnx/lean-attention';
import { testkitDecoderBytes } from '../lib/testkit';
import { makeScene } from '../lib/testkit/scenes';
import { median, peakRssMiB, ROOT, round, rssMiB } from './util';

const WIDTH = 1024;
const HEIGHT = 768;

export interface LeanChildArgs {
  label: string;
  encoder: string;
  leanAttention: boolean;
  threads: number;
  reps: number;
  embeddingOut: string;
}

export interface LeanChildResult {
  label: string;
  encoder: string;
  leanAttention: string;
  loadMs: number;
  rssAfterLoadMiB: number;
  peakAfterLoadMiB: number;
  encodeMs: number[];
  encodeMedianMs: number;
  peakAfterEncodeMiB: number;
  createReferenceMs: number;
  segmentMs: number;
  segmentEncodeMs: number;
  maskPixels: number;
  wholeTargetPeakMiB: number;
}

/** One configuration, in this (child) process. */
export async function leanChild(a: LeanChildArgs): Promise<LeanChildResult> {
  const t0 = performance.now();
  const model = await P2SAM.load({
    encoder: a.encoder,
    decoder: testkitDecoderBytes({ variant: 'sam-sized' }),
    threads: a.threads,
    leanAttention: a.leanAttention,
    onWarning: () => {},
  });
  const loadMs = performance.now() - t0;
  const rssAfterLoadMiB = rssMiB();
  const peakAfterLoadMiB = peakRssMiB();
  // Large object (40 % of the frame), as in the measurement; reference and target differ.
  const reference = makeScene({ width: WIDTH, height: HEIGHT, seed: 5, coverage: 0.4, center: [0.45, 0.5] });
  const target = makeScene({ width: WIDTH, height: HEIGHT, seed: 6, coverage: 0.4, center: [0.55, 0.5] });
  const encodeMs: number[] = [];
  let embedding: Float32Array | undefined;
  for (let i = 0; i < a.reps; i++) {
    const t = performance.now();
    const e = await model.encode(target.image);
    encodeMs.push(round(performance.now() - t));
    if (i === 0) embedding = e.toFloat32Array();
    e.dispose();
  }
  writeFileSync(a.embeddingOut, Buffer.from(embedding!.buffer, embedding!.byteOffset, embedding!.byteLength));
  const peakAfterEncodeMiB = peakRssMiB();
  const tr = performance.now();
  const ref = await model.createReference({ image: reference.image, mask: reference.mask });
  const createReferenceMs = performance.now() - tr;
  const ts = performance.now();
  const seg = await model.segment(target.image, { reference: ref });
  const segmentMs = performance.now() - ts;
  let maskPixels = 0;
  for (const v of seg.mask) maskPixels += v ? 1 : 0;
  const wholeTargetPeakMiB = peakRssMiB();
  const leanNote = model.info.encoder.leanAttention ?? 'off';
  ref.dispose();
  await model.dispose();
  return {
    label: a.label,
    encoder: a.encoder,
    leanAttention: leanNote,
    loadMs: round(loadMs),
    rssAfterLoadMiB,
    peakAfterLoadMiB,
    encodeMs,
    encodeMedianMs: round(median(encodeMs)),
    peakAfterEncodeMiB,
    createReferenceMs: round(createReferenceMs),
    segmentMs: round(segmentMs),
    segmentEncodeMs: round(seg.timings.encodeMs),
    maskPixels,
    wholeTargetPeakMiB,
  };
}

function segmentAnythingDir(): string | undefined {
  const candidates = [
    process.env.P2SAM_SEGMENT_ANYTHING,
    path.resolve(ROOT, '../shared/vendor/segment-anything'),
    path.resolve(ROOT, '../../shared/vendor/segment-anything'),
  ];
  return candidates.find((d) => d !== undefined && existsSync(path.join(d, 'segment_anything')));
}

/** The cached export of `config`, exported now when missing; or why it cannot be. */
export function vitEncoder(config: 'vit_b' | 'vit_h'): { file: string } | { skipped: string } {
  const dir = process.env.P2SAM_LEAN_MODELS ?? path.join(os.tmpdir(), 'p2sam-lean-models');
  const file = path.join(dir, `${config}.onnx`);
  if (existsSync(file)) return { file };
  const sa = segmentAnythingDir();
  if (!sa) return { skipped: 'segment_anything not found: set P2SAM_SEGMENT_ANYTHING' };
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync('/usr/bin/python3', [path.join(ROOT, 'python/p2sam_vit_encoder.py'), config, file], {
      env: { ...process.env, PYTHONPATH: sa },
      stdio: ['ignore', 'inherit', 'pipe'],
      timeout: 1_800_000,
    });
  } catch (e) {
    return { skipped: `export failed: ${(e as Error).message.split('\n').slice(-3).join(' ')}` };
  }
  return { file };
}

/** Writes the rewritten copy with `chunks` pieces beside the original (cached), for the chunk sweep. */
export function leanCopy(file: string, chunks: number): string {
  const out = file.replace(/\.onnx$/, `.lean${chunks}.onnx`);
  if (existsSync(out) && statSync(out).mtimeMs >= statSync(file).mtimeMs) return out;
  const r = leanAttention(new Uint8Array(readFileSync(file)), { chunks });
  if (r.rewritten === 0) throw new Error(`bench lean: ${file} was not rewritten: ${r.reason}`);
  writeFileSync(out, r.model);
  return out;
}

/** max |a − b| / max |a| of two embeddings written by the children. */
export function embeddingRelativeError(a: string, b: string): number {
  const x = new Float32Array(new Uint8Array(readFileSync(a)).buffer);
  const y = new Float32Array(new Uint8Array(readFileSync(b)).buffer);
  let diff = 0;
  let ref = 0;
  for (let i = 0; i < x.length; i++) {
    diff = Math.max(diff, Math.abs(x[i]! - y[i]!));
    ref = Math.max(ref, Math.abs(x[i]!));
  }
  return x.length === y.length ? diff / ref : Number.POSITIVE_INFINITY;
}
