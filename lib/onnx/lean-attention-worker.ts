/**
 * Worker-thread entry for {@link leanAttentionOffThread}: reads the model (when given a
 * path) and runs the rewrite here, so a 0.4–2.5 GB encoder is parsed and copied without
 * blocking the caller's event loop. The rewritten bytes are either written to `outFile`
 * (the load path: the caller's heap never holds them, and they are freed when this worker
 * ends) or transferred back, not copied.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { leanAttention, type LeanAttentionOptions } from './lean-attention';

interface Job {
  path?: string;
  bytes?: Uint8Array;
  options: LeanAttentionOptions;
  outFile?: string;
}

const job = workerData as Job;
try {
  const input = job.path !== undefined ? new Uint8Array(readFileSync(job.path)) : job.bytes!;
  const r = leanAttention(input, job.options);
  // Unchanged models are not sent back: the caller still has (or can read) the original.
  const send = r.rewritten > 0 && job.outFile === undefined;
  // External-data weights would not be found beside a temporary file; the caller skips those.
  if (r.rewritten > 0 && job.outFile !== undefined && !r.externalData) writeFileSync(job.outFile, r.model);
  const result = send ? r : { ...r, model: undefined };
  parentPort!.postMessage({ ok: true, result }, send ? [r.model.buffer as ArrayBuffer] : []);
} catch (e) {
  parentPort!.postMessage({
    ok: false,
    name: e instanceof Error ? e.name : 'Error',
    message: e instanceof Error ? e.message : String(e),
  });
}
