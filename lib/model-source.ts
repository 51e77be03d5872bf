/**
 * Where P2SAM.load gets its two models from: a path (checked to exist) or the .onnx /
 * TorchScript bytes, and the lean-attention copy of the encoder. (The pruned copy of the
 * decoder its cascade runs on is made on the helper thread: lib/onnx/pruned-decoder.ts.)
 */
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { argumentError, P2SamError } from './errors';
import type { NativeModelSource } from './native';
import { leanAttentionOffThread } from './onnx/lean-attention-thread';
import * as v from './validate';

/**
 * @internal A checked model argument and the label ModelInfo shows for it. Throws
 * TypeError/RangeError for a wrong type or empty value, MODEL_NOT_FOUND for a missing file.
 */
export function modelSource(name: string, value: unknown): { native: NativeModelSource; label: string } {
  if (typeof value === 'string') {
    if (value.length === 0)
      v.fail('type', name, 'a path to an .onnx or TorchScript .pt file, or a Uint8Array', value);
    if (!existsSync(value)) throw new P2SamError('MODEL_NOT_FOUND', `${name}: no file at '${value}'`);
    if (!statSync(value).isFile())
      throw new P2SamError('MODEL_NOT_FOUND', `${name}: '${value}' is not a file`);
    return { native: { path: value }, label: value };
  }
  if (value instanceof Uint8Array) {
    if (value.length === 0)
      throw argumentError('range', {
        param: name,
        expected: 'a non-empty buffer',
        received: `an empty ${value.constructor.name}`,
      });
    return { native: { bytes: value }, label: `<${value.length}-byte buffer>` };
  }
  return v.fail(
    'type',
    name,
    'a path to an .onnx or TorchScript .pt file, or a Uint8Array with its bytes',
    value,
  );
}

/**
 * @internal The encoder with its global attention chunked, or the reason it runs as it is:
 * not a SAM ViT graph, weights in external-data files (resolved relative to the file's
 * directory, so a rewritten copy elsewhere could not find them), or a file that cannot be
 * read or parsed here (the native load reports that).
 *
 * The rewrite runs on a worker thread that writes the lean model to a temporary file, so
 * this process's heap never holds a second copy of the weights (measured on ViT-B: passing
 * the rewritten bytes instead kept ≈ 290 MiB more resident after load). The caller loads
 * that file and then calls `cleanup`.
 */
export async function leanEncoder(
  source: NativeModelSource,
): Promise<{ path?: string; note: string; cleanup?: () => void }> {
  let dir: string | undefined;
  const cleanup = () => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  };
  try {
    dir = mkdtempSync(path.join(os.tmpdir(), 'p2sam-lean-'));
    const file = path.join(dir, 'encoder.lean.onnx');
    const r = await leanAttentionOffThread(
      'path' in source ? { path: source.path } : { bytes: source.bytes },
      {},
      file,
    );
    if (r.rewritten === 0) {
      cleanup();
      return { note: `not applied: ${r.reason}` };
    }
    if (r.externalData) {
      cleanup();
      return {
        note: 'not applied: the weights are in external-data files; write a lean copy beside them with p2sam optimize',
      };
    }
    return {
      path: file,
      cleanup,
      note: `${r.rewritten} global-attention block${r.rewritten === 1 ? '' : 's'} in ${r.chunks} chunks`,
    };
  } catch (e) {
    // No temporary directory, no worker, unreadable file: load the encoder as it is.
    cleanup();
    return { note: `not applied: ${e instanceof Error ? e.message : String(e)}` };
  }
}
