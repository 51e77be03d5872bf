/**
 * Runs {@link leanAttention} on a worker thread: the load path (`leanAttention: true`) and
 * `p2sam optimize` both call this so the event loop stays free while a large encoder is
 * parsed and rewritten.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { LeanAttentionOptions, LeanAttentionResult } from './lean-attention';

/** The compiled worker entry: beside this file in dist/, or dist/ when running from lib/*.ts sources (tests). */
function workerFile(): string {
  const here = path.join(__dirname, 'lean-attention-worker.js');
  if (existsSync(here)) return here;
  return path.resolve(__dirname, '../../dist/lib/onnx/lean-attention-worker.js');
}

/**
 * The rewrite of the model at `source` (a path, read on the worker, or bytes, copied to it).
 * `model` is undefined when nothing was rewritten (see `reason`), or when `outFile` was
 * given: then the worker wrote the rewritten model there instead of sending it back.
 *
 * @example
 * ```ts
 * const r = await leanAttentionOffThread({ path: 'sam_vit_b_encoder.onnx' });
 * if (r.model) writeFileSync('lean.onnx', r.model); else console.warn(r.reason);
 * ```
 */
export function leanAttentionOffThread(
  source: { path: string } | { bytes: Uint8Array },
  options: LeanAttentionOptions = {},
  outFile?: string,
): Promise<Omit<LeanAttentionResult, 'model'> & { model?: Uint8Array }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(workerFile(), { workerData: { ...source, options, outFile } });
    // Settle only once the worker has exited, so that its teardown (freeing the model copies
    // it held) never overlaps whatever the caller does next — the native load, model runs.
    let reply:
      | { ok: true; result: LeanAttentionResult }
      | { ok: false; name: string; message: string }
      | undefined;
    worker.once('message', (m: typeof reply) => {
      reply = m;
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (reply?.ok) resolve(reply.result);
      else if (reply)
        reject(
          reply.name === 'RangeError'
            ? new RangeError(reply.message)
            : reply.name === 'TypeError'
              ? new TypeError(reply.message)
              : new Error(reply.message),
        );
      else reject(new Error(`lean-attention worker exited with code ${code} before answering`));
    });
  });
}
