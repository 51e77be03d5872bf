/**
 * Worker-thread entry for {@link leanAttentionOffThread}: reads the model (when given a
 * path) and runs the rewrite here, so a 0.4–2.5 GB encoder is parsed and copied without
 * blocking the caller's event loop. The rewritten bytes are transferred back, not copied.
 */
import { readFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { leanAttention, type LeanAttentionOptions } from './lean-attention';

interface Job {
  path?: string;
  bytes?: Uint8Array;
  options: LeanAttentionOptions;
}

const job = workerData as Job;
try {
  const input = job.path !== undefined ? new Uint8Array(readFileSync(job.path)) : job.bytes!;
  const r = leanAttention(input, job.options);
  // Unchanged models are not sent back: the caller still has (or can read) the original.
  const result = r.rewritten > 0 ? r : { ...r, model: undefined };
  parentPort!.postMessage({ ok: true, result }, r.rewritten > 0 ? [r.model.buffer as ArrayBuffer] : []);
} catch (e) {
  parentPort!.postMessage({ ok: false, name: e instanceof Error ? e.name : 'Error', message: e instanceof Error ? e.message : String(e) });
}
