/**
 * The decoder P2SAM's cascade runs: the loaded decoder minus its full-resolution `masks`
 * branch (lib/onnx/prune.ts says why). Reading and pruning cost ≈ 5.5 ms of JavaScript
 * per MB of model, so P2SAM.load runs this on the helper thread (lib/worker/offload.ts),
 * never on the caller's event loop.
 */
import { readFile } from 'node:fs/promises';
import { graphOutputs, hasExternalData, pruneOutputs } from './prune';

export interface PrunedDecoder {
  /** The pruned model, or undefined when there is nothing to prune or it cannot be read here. */
  model?: Uint8Array;
  /** The decoder keeps weights in external-data files (resolved relative to its own folder). */
  externalData: boolean;
}

/**
 * Never throws: a file this parser cannot read is left to ONNX Runtime, which then
 * simply runs the cascade on the full decoder (or reports the real problem).
 */
export async function prunedDecoder(
  source: { path: string } | { bytes: Uint8Array },
): Promise<PrunedDecoder> {
  try {
    const bytes = 'path' in source ? new Uint8Array(await readFile(source.path)) : source.bytes;
    const externalData = hasExternalData(bytes);
    if (!graphOutputs(bytes).includes('masks')) return { externalData };
    return { model: pruneOutputs(bytes, ['masks'], { removeDeadNodes: true }).model, externalData };
  } catch {
    return { externalData: false };
  }
}

/** Whether in-memory model bytes reference external-data files; false when they cannot be parsed here (ONNX Runtime then reports the problem). */
export async function modelExternalData(bytes: Uint8Array): Promise<boolean> {
  try {
    return hasExternalData(bytes);
  } catch {
    return false;
  }
}
