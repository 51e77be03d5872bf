/**
 * Runs a `volume` job: contour a new CT visit from an annotated earlier one, as
 * `p2sam volume` does for one visit (lib/volume/segment-volume.ts), with the structure
 * set staged and committed like every job output (staged-output.ts): a retry replaces
 * rtstruct.dcm, it never leaves half of one.
 */
import { hostname } from 'node:os';
import * as path from 'node:path';
import { readDicomSeries } from '../clinical/dicom-series';
import { readRtstruct } from '../clinical/rtstruct-read';
import { writeRtstruct } from '../clinical/rtstruct-write';
import { segmentVolume } from '../volume/segment-volume';
import type { VolumeJobData, VolumeJobResult } from './job-types';
import type { JobContext } from './sequence-job';
import { RESULT_FILE } from './sequence-job';
import { StagedOutput } from './staged-output';

export const RTSTRUCT_FILE = 'rtstruct.dcm';

export async function runVolumeJob(data: VolumeJobData, ctx: JobContext): Promise<VolumeJobResult> {
  const t0 = performance.now();
  const reference = await readDicomSeries(data.refSeries);
  const refMask = readRtstruct(data.refRtstruct, reference, { roi: data.roi });
  const target = await readDicomSeries(data.targetSeries);
  const staged = await StagedOutput.open(data.out, ctx.jobId);
  const { model, release } = await ctx.models.acquire(data);
  try {
    const r = await segmentVolume(
      model,
      target,
      { volume: reference, mask: refMask },
      {
        ...(data.options?.window ? { window: data.options.window } : {}),
        ...(data.options?.marginMm !== undefined ? { marginMm: data.options.marginMm } : {}),
        ...(ctx.signal ? { signal: ctx.signal } : {}),
        onProgress: (p) =>
          void ctx.onProgress?.({ done: p.done, total: p.total, current: `slice ${p.targetSlice}` }),
      },
    );
    const roi = data.options?.outputRoi ?? data.roi;
    writeRtstruct(
      staged.stagingPath(RTSTRUCT_FILE),
      target,
      [{ name: roi, mask: r.mask, interpretedType: 'GTV' }],
      {
        label: 'P2SAM',
        seriesDescription: `P2SAM ${roi} from ${path.basename(data.refSeries)}`,
      },
    );
    const result: VolumeJobResult = {
      kind: 'volume',
      jobId: ctx.jobId,
      attempt: ctx.attempt,
      worker: { host: hostname(), pid: process.pid },
      out: staged.out,
      rtstruct: await staged.commit(RTSTRUCT_FILE),
      presentSlices: r.summary.presentSlices,
      volumeMl: r.summary.volumeMl,
      ms: Math.round(performance.now() - t0),
    };
    await staged.commitJson(RESULT_FILE, result);
    return result;
  } finally {
    release();
    await staged.close();
  }
}
