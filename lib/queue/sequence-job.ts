/**
 * Runs a `sequence` job: one reference against a list of target images, as `p2sam segment`
 * does, with the outputs staged and committed (staged-output.ts) so a retry is harmless.
 *
 * Unlike `p2sam segment`, one failing target fails the whole job: a job is the unit a
 * pipeline retries and records, so a partial result must not look like a finished one.
 */
import { hostname } from 'node:os';
import { P2SamError } from '../errors';
import { readImage, readMask, writeMaskPng } from '../io/image';
import { writeOverlayPng } from '../io/overlay';
import { outputNames } from '../cli/targets';
import type { JobProgress, JobTargetResult, SequenceJobData, SequenceJobResult } from './job-types';
import type { ModelCache } from './model-cache';
import { StagedOutput } from './staged-output';

export interface JobContext {
  jobId: string;
  attempt: number;
  models: ModelCache;
  signal?: AbortSignal;
  onProgress?: (p: JobProgress) => Promise<void> | void;
}

export const RESULT_FILE = 'result.json';

/**
 * @throws P2SamError from reading the inputs or from the model; the worker decides from
 * its code whether the job is retried (retry-policy.ts).
 */
export async function runSequenceJob(data: SequenceJobData, ctx: JobContext): Promise<SequenceJobResult> {
  const t0 = performance.now();
  const o = data.options ?? {};
  const refImage = await readImage(data.reference.image);
  const refMask = await readMask(data.reference.mask, { width: refImage.width, height: refImage.height });
  if (!refMask.data.some((v) => v !== 0))
    throw new P2SamError(
      'EMPTY_REFERENCE',
      `job.reference.mask '${data.reference.mask}' has no non-zero pixel`,
    );
  const names = outputNames(data.targets);
  const staged = await StagedOutput.open(data.out, ctx.jobId);
  const { model, release } = await ctx.models.acquire(data);
  try {
    const reference = await model.createReference(
      { image: refImage, mask: refMask },
      {
        ...(o.mode ? { mode: o.mode } : {}),
        ...(o.parts ? { parts: o.parts } : {}),
        ...(o.negatives ? { negatives: o.negatives } : {}),
        ...(o.seed !== undefined ? { seed: o.seed } : {}),
        ...(o.restarts !== undefined ? { restarts: o.restarts } : {}),
        ...(ctx.signal ? { signal: ctx.signal } : {}),
      },
    );
    const targets: JobTargetResult[] = [];
    try {
      for (let i = 0; i < data.targets.length; i++) {
        const file = data.targets[i]!;
        const name = names[i]!;
        await ctx.onProgress?.({ done: i, total: data.targets.length, current: file });
        const image = await readImage(file);
        const r = await model.segment(image, {
          reference,
          retrieval: {
            ...(o.solver ? { solver: o.solver } : {}),
            ...(o.weights ? { weights: o.weights } : {}),
          },
          ...(ctx.signal ? { signal: ctx.signal } : {}),
        });
        const mask = { data: r.mask, width: r.width, height: r.height };
        const maskName = `${name}.mask.png`;
        await writeMaskPng(staged.stagingPath(maskName), mask);
        const overlayName = o.overlay ? `${name}.overlay.png` : undefined;
        if (overlayName) await writeOverlayPng(staged.stagingPath(overlayName), image, mask, r.points);
        let area = 0;
        for (let p = 0; p < r.mask.length; p++) area += r.mask[p] !== 0 ? 1 : 0;
        targets.push({
          file,
          name,
          mask: await staged.commit(maskName),
          ...(overlayName ? { overlay: await staged.commit(overlayName) } : {}),
          width: r.width,
          height: r.height,
          area,
          empty: r.empty,
          parts: r.parts,
          score: r.score,
        });
      }
    } finally {
      reference.dispose();
    }
    const result: SequenceJobResult = {
      kind: 'sequence',
      jobId: ctx.jobId,
      attempt: ctx.attempt,
      worker: { host: hostname(), pid: process.pid },
      out: staged.out,
      targets,
      ms: Math.round(performance.now() - t0),
    };
    await staged.commitJson(RESULT_FILE, result);
    await ctx.onProgress?.({ done: data.targets.length, total: data.targets.length });
    return result;
  } finally {
    release();
    await staged.close();
  }
}
