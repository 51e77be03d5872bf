/**
 * A volume job through the queue, with real parts: a two-visit DICOM phantom study
 * (lib/volume/phantom-dicom.ts), redis-server and a `p2sam worker` process. The worker
 * contours the follow-up visit from the annotated one and commits rtstruct.dcm and
 * result.json; the structure set reads back onto the target series with the ROI where
 * the phantom's truth has it.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDicomSeries } from '../lib/clinical/dicom-series';
import { readRtstruct } from '../lib/clinical/rtstruct-read';
import { P2SamQueue, RESULT_FILE, type VolumeJobResult } from '../lib/queue';
import { writePhantomStudy, type WrittenPhantomStudy } from '../lib/volume/phantom-dicom';
import { tempDir, writeModel } from './cli-helpers';
import { ensureBuilt, type RedisServer, spawnWorker, startRedis, type WorkerProcess } from './queue-helpers';

let redis: RedisServer | undefined;
let url: string;
let worker: WorkerProcess;
let study: WrittenPhantomStudy;
let model: { encoder: string; decoder: string };
let dir: string;
const queue = `volume-${process.pid}-${Date.now()}`;

beforeAll(async () => {
  ensureBuilt();
  dir = tempDir('queue-volume');
  study = writePhantomStudy(path.join(dir, 'study'), { size: 256, seed: 2 });
  model = await writeModel(path.join(dir, 'model'));
  if (process.env.REDIS_URL) url = process.env.REDIS_URL;
  else {
    redis = await startRedis();
    url = redis.url;
  }
  worker = await spawnWorker(url, queue);
}, 120_000);

afterAll(async () => {
  worker?.proc.kill('SIGTERM');
  await worker?.exited;
  await redis?.stop();
});

function overlapDice(a: Uint8Array, b: Uint8Array): number {
  let both = 0;
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] !== 0 ? 1 : 0;
    const y = b[i] !== 0 ? 1 : 0;
    both += x & y;
    sum += x + y;
  }
  return sum === 0 ? 1 : (2 * both) / sum;
}

describe('a volume job', () => {
  it('commits a structure set that matches the phantom truth, with its result on the job', async () => {
    const q = new P2SamQueue({ redis: url, queue });
    try {
      const out = path.join(dir, 'out');
      const id = await q.enqueue({
        kind: 'volume',
        ...model,
        refSeries: study.reference.seriesDir,
        refRtstruct: study.reference.rtstruct,
        roi: 'GTV',
        targetSeries: study.target.seriesDir,
        out,
      });
      const progress: number[] = [];
      const result = (await q.wait(id, {
        timeoutMs: 240_000,
        onProgress: (p) => progress.push(p.done),
      })) as VolumeJobResult;
      expect(result.kind).toBe('volume');
      expect(result.rtstruct).toBe(path.join(out, 'rtstruct.dcm'));
      expect(JSON.parse(readFileSync(path.join(out, RESULT_FILE), 'utf8'))).toEqual(result);
      expect(progress.length).toBeGreaterThan(0);
      const target = await readDicomSeries(study.target.seriesDir);
      const mask = readRtstruct(result.rtstruct, target, { roi: 'GTV' });
      const truth = readRtstruct(study.target.rtstruct, target, { roi: 'GTV' });
      expect(overlapDice(mask.data, truth.data)).toBeGreaterThanOrEqual(0.85);
      expect(result.presentSlices).toBeGreaterThan(0);
    } finally {
      await q.close();
    }
  }, 300_000);

  it('a volume job with an unknown ROI fails once with RTSTRUCT_ROI_NOT_FOUND', async () => {
    const q = new P2SamQueue({ redis: url, queue });
    try {
      const id = await q.enqueue({
        kind: 'volume',
        ...model,
        refSeries: study.reference.seriesDir,
        refRtstruct: study.reference.rtstruct,
        roi: 'NOT_THERE',
        targetSeries: study.target.seriesDir,
        out: path.join(dir, 'out-bad'),
      });
      await expect(q.wait(id)).rejects.toMatchObject({ code: 'RTSTRUCT_ROI_NOT_FOUND' });
      expect((await q.getJob(id))!.attemptsMade).toBe(1);
    } finally {
      await q.close();
    }
  }, 120_000);
});
