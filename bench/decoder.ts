/**
 * The decoder-pass measurements: what a pass costs when its full-resolution `masks`
 * output is not used, through raw ONNX Runtime sessions (onnxruntime-node), with
 *   full/all     every output fetched (what `model.predict` does),
 *   full/low     only iou_predictions + low_res_masks fetched (what the cascade does),
 *   declOnly     `masks` removed from the graph outputs, nodes kept,
 *   pruned       `masks` and the nodes only it needed removed (lib/onnx/prune.ts).
 * Plus the node counts of ONNX Runtime's own optimised graphs, which show whether the
 * runtime dropped the dead upsampling by itself. (The engine itself prunes at load,
 * `pruneDecoder: true`; bench/engine.ts measures it through P2SAM with and without.)
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { graphOutputs, pruneOutputs } from '../lib/onnx/prune';
import { testkitDecoderBytes, type TestkitDecoderVariant } from '../lib/testkit';
import { mulberry32 } from '../lib/testkit/prng';
import { round, summary, type Summary } from './util';

function feeds(h: number, w: number): Record<string, ort.Tensor> {
  const rnd = mulberry32(12345);
  const emb = new Float32Array(256 * 64 * 64);
  for (let i = 0; i < emb.length; i++) emb[i] = rnd();
  return {
    image_embeddings: new ort.Tensor('float32', emb, [1, 256, 64, 64]),
    point_coords: new ort.Tensor('float32', Float32Array.from([500, 400, 300, 200, 0, 0]), [1, 3, 2]),
    point_labels: new ort.Tensor('float32', Float32Array.from([1, 0, -1]), [1, 3]),
    mask_input: new ort.Tensor('float32', new Float32Array(256 * 256), [1, 1, 256, 256]),
    has_mask_input: new ort.Tensor('float32', Float32Array.from([0]), [1]),
    orig_im_size: new ort.Tensor('float32', Float32Array.from([h, w]), [2]),
  };
}

async function optimisedNodeCount(bytes: Uint8Array, dir: string, name: string): Promise<number> {
  const file = path.join(dir, name);
  const s = await ort.InferenceSession.create(bytes, {
    graphOptimizationLevel: 'all',
    optimizedModelFilePath: file,
    logSeverityLevel: 3,
  });
  await s.release();
  const opt = new Uint8Array(readFileSync(file));
  return pruneOutputs(opt, [graphOutputs(opt)[0]!], { removeDeadNodes: false }).nodes;
}

export interface DecoderVariantResult {
  variant: string;
  origSize: [number, number];
  /** Median ms per decoder run. */
  fullAllOutputs: Summary;
  fullLowResOnly: Summary;
  declarationRemoved: Summary;
  pruned: Summary;
  nodes: {
    source: number;
    removedByPrune: number;
    ortOptimisedFull: number;
    ortOptimisedDeclRemoved: number;
    ortOptimisedPruned: number;
  };
  /** Whether ONNX Runtime skipped the masks branch when only low-res outputs were fetched. */
  ortSkipsUnfetchedBranch: boolean;
  /**
   * The target's ratio: what the cascade's pass costs today (full model, low-res outputs
   * fetched) over the low-res part alone (the pruned graph). ≤ 1 meets "a pass whose
   * full-resolution output is not used costs no more than the low-res part".
   */
  cascadePassOverLowResPart: number;
}

/** Times the four variants interleaved (so machine-load drift hits all alike). */
export async function measureDecoderVariant(
  variant: TestkitDecoderVariant,
  threads: number,
  reps: number,
  origSize: [number, number] = [768, 1024],
  sourceBytes?: Uint8Array,
  label?: string,
): Promise<DecoderVariantResult> {
  const full = sourceBytes ?? testkitDecoderBytes({ variant });
  const decl = pruneOutputs(full, ['masks'], { removeDeadNodes: false });
  const pruned = pruneOutputs(full, ['masks']);
  const opts: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    enableMemPattern: false,
    logSeverityLevel: 3,
    // As the engine's sessions: no spinning. Three sessions each own a thread pool; with
    // spinning on, one session's idle-spinning workers steal the 2 cores from the next
    // session's run and the interleaved comparison measures that, not the graphs.
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
  const sFull = await ort.InferenceSession.create(full, opts);
  const sDecl = await ort.InferenceSession.create(decl.model, opts);
  const sPruned = await ort.InferenceSession.create(pruned.model, opts);
  const f = feeds(origSize[0], origSize[1]);
  const low = ['iou_predictions', 'low_res_masks'];
  const cases: [string, ort.InferenceSession, string[] | undefined][] = [
    ['fullAll', sFull, undefined],
    ['fullLow', sFull, low],
    ['decl', sDecl, low],
    ['pruned', sPruned, low],
  ];
  const times: Record<string, number[]> = { fullAll: [], fullLow: [], decl: [], pruned: [] };
  for (const [, s, outs] of cases) for (let i = 0; i < 2; i++) await (outs ? s.run(f, outs) : s.run(f));
  for (let r = 0; r < reps; r++) {
    for (const [name, s, outs] of cases) {
      const t = performance.now();
      await (outs ? s.run(f, outs) : s.run(f));
      times[name]!.push(performance.now() - t);
    }
  }
  for (const s of [sFull, sDecl, sPruned]) await s.release();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'p2sam-bench-opt-'));
  const nodes = {
    source: pruned.nodes,
    removedByPrune: pruned.removedNodes,
    ortOptimisedFull: await optimisedNodeCount(full, dir, 'full.onnx'),
    ortOptimisedDeclRemoved: await optimisedNodeCount(decl.model, dir, 'decl.onnx'),
    ortOptimisedPruned: await optimisedNodeCount(pruned.model, dir, 'pruned.onnx'),
  };
  rmSync(dir, { recursive: true, force: true });
  const fullLow = summary(times.fullLow!);
  const pr = summary(times.pruned!);
  return {
    variant: label ?? variant,
    origSize,
    fullAllOutputs: summary(times.fullAll!),
    fullLowResOnly: fullLow,
    declarationRemoved: summary(times.decl!),
    pruned: pr,
    nodes,
    ortSkipsUnfetchedBranch: nodes.ortOptimisedDeclRemoved < nodes.ortOptimisedFull,
    cascadePassOverLowResPart: round(fullLow.median / pr.median, 3),
  };
}
