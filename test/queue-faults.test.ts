/**
 * The job queue under faults, with real parts: redis-server, two `p2sam worker`
 * processes, the testkit model and scenes.
 *
 * - a worker SIGKILLed in the middle of a job: every one of 20 jobs completes exactly
 *   once, the killed worker's job on the survivor, with valid, untorn outputs;
 * - Redis restarted while jobs run: the workers (and the producer) reconnect and finish;
 * - a poison job (corrupt input) fails with its code on the job, is not retried, and the
 *   worker goes on with the next job.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { P2SamError } from '../lib/errors';
import { readMask } from '../lib/io/image';
import { dice } from '../lib/metrics';
import {
  type P2SamJobResult,
  P2SamQueue,
  RESULT_FILE,
  redisOptions,
  type SequenceJobResult,
} from '../lib/queue';
import { STAGING_DIR } from '../lib/queue/staged-output';
import {
  ensureBuilt,
  type JobFixture,
  jobFixture,
  type RedisServer,
  spawnWorker,
  startRedis,
  until,
  type WorkerProcess,
} from './queue-helpers';

let redis: RedisServer | undefined;
let redisUrl: string;
let fx: JobFixture;
const workers: WorkerProcess[] = [];
// Queue names of this run, so a shared server (REDIS_URL) holding older runs' jobs does not skew the counts.
const RUN = `${process.pid}-${Date.now()}`;

beforeAll(async () => {
  ensureBuilt();
  fx = await jobFixture();
  if (process.env.REDIS_URL) redisUrl = process.env.REDIS_URL;
  else {
    redis = await startRedis();
    redisUrl = redis.url;
  }
});

afterAll(async () => {
  for (const w of workers) if (w.proc.exitCode === null) w.proc.kill('SIGKILL');
  await redis?.stop();
});

/** Each mask decodes at the frame's size, matches its ground truth, and equals the first job's (same inputs). */
async function checkOutputs(r: P2SamJobResult, firstMasks: Map<string, Uint8Array>): Promise<void> {
  if (r.kind !== 'sequence') throw new Error(`expected a sequence result, got ${r.kind}`);
  const result: SequenceJobResult = r;
  expect(readdirSync(result.out).sort()).toEqual(
    ['frame1.mask.png', 'frame2.mask.png', 'frame3.mask.png', RESULT_FILE].sort(),
  );
  const onDisk = JSON.parse(readFileSync(path.join(result.out, RESULT_FILE), 'utf8')) as SequenceJobResult;
  expect(onDisk).toEqual(result);
  for (const [i, t] of result.targets.entries()) {
    const mask = await readMask(t.mask, { width: 320, height: 240 });
    const truth = await readMask(fx.gt[i + 1]!);
    expect(dice(mask, truth)).toBeGreaterThan(0.8);
    const first = firstMasks.get(t.name);
    if (first) expect(Buffer.from(mask.data).equals(Buffer.from(first))).toBe(true);
    else firstMasks.set(t.name, mask.data);
  }
}

describe('two workers, one SIGKILLed mid-job', () => {
  it('completes each of 20 jobs exactly once with valid outputs', async () => {
    const queue = `kill-${RUN}`;
    const q = new P2SamQueue({ redis: redisUrl, queue });
    const events = new QueueEvents(queue, { connection: redisOptions(redisUrl) });
    await events.waitUntilReady();
    const completions = new Map<string, number>();
    events.on('completed', ({ jobId }) => completions.set(jobId, (completions.get(jobId) ?? 0) + 1));
    try {
      const a = await spawnWorker(redisUrl, queue);
      const b = await spawnWorker(redisUrl, queue);
      workers.push(a, b);
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) ids.push(await q.enqueue(fx.job(path.join(fx.root, 'out', `kill-${i}`))));
      // Kill `a` once it has finished two jobs and started a third: it dies holding that job's lock.
      await a.waitFor(
        /(?:completed[\s\S]*){2}[\s\S]*job (\d+) \(sequence\) started[^\n]*\n(?![\s\S]*job \1 completed)/,
      );
      const inFlight = [...a.log().matchAll(/job (\d+) \(sequence\) started/g)].map((m) => m[1]!).at(-1)!;
      a.proc.kill('SIGKILL');
      expect((await a.exited).signal).toBe('SIGKILL');
      expect(a.log()).not.toMatch(new RegExp(`job ${inFlight} completed`));

      const results = await Promise.all(ids.map((id) => q.wait(id, { timeoutMs: 240_000 })));
      await until('the completed events', () => completions.size === 20, 10_000);
      for (const id of ids) expect(completions.get(id), `job ${id}`).toBe(1);
      const counts = await q.queue.getJobCounts('completed', 'failed', 'active', 'wait', 'delayed');
      expect(counts).toEqual({ completed: 20, failed: 0, active: 0, wait: 0, delayed: 0 });

      // The job `a` held was taken over by `b` after its lock expired: a second start.
      const taken = results[ids.indexOf(inFlight)]!;
      expect(taken.worker.pid).toBe(b.pid);
      expect(taken.attempt).toBeGreaterThanOrEqual(2);
      const firstMasks = new Map<string, Uint8Array>();
      for (const r of results) {
        await checkOutputs(r, firstMasks);
        expect(existsSync(path.join(r.out, STAGING_DIR))).toBe(false);
      }
      // One model load for all of b's jobs.
      b.proc.kill('SIGTERM');
      expect((await b.exited).code).toBe(0);
      expect(b.log()).toMatch(/stopped \(1 model load\)/);
    } finally {
      await events.close();
      await q.close();
    }
  }, 300_000);
});

describe('Redis restarted mid-run', () => {
  it('workers and producer reconnect; queued and later jobs complete', async () => {
    // A server of our own: this test restarts it.
    const own = await startRedis();
    const q = new P2SamQueue({ redis: own.url, queue: 'restart' });
    try {
      const a = await spawnWorker(own.url, 'restart');
      const b = await spawnWorker(own.url, 'restart');
      workers.push(a, b);
      const ids: string[] = [];
      for (let i = 0; i < 6; i++)
        ids.push(await q.enqueue(fx.job(path.join(fx.root, 'out', `restart-${i}`))));
      await a.waitFor(/completed/);
      // Down for 1.5 s: longer than ioredis' first reconnect delays, shorter than the job lock.
      await own.restart(1500);
      ids.push(await q.enqueue(fx.job(path.join(fx.root, 'out', 'restart-after'))));
      const results = await Promise.all(ids.map((id) => q.wait(id, { timeoutMs: 180_000 })));
      expect(new Set(results.map((r) => r.jobId)).size).toBe(7);
      const firstMasks = new Map<string, Uint8Array>();
      for (const r of results) await checkOutputs(r, firstMasks);
      // Both workers are still alive and took jobs after the restart.
      expect(a.proc.exitCode).toBeNull();
      expect(b.proc.exitCode).toBeNull();
      expect(`${a.log()}${b.log()}`).toMatch(new RegExp(`job ${ids.at(-1)} completed`));
      a.proc.kill('SIGTERM');
      b.proc.kill('SIGTERM');
      expect((await a.exited).code).toBe(0);
      expect((await b.exited).code).toBe(0);
    } finally {
      await q.close();
      await own.stop();
    }
  }, 300_000);
});

describe('a poison job', () => {
  it('fails once with its code on the job and the worker goes on', async () => {
    const queue = `poison-${RUN}`;
    const q = new P2SamQueue({ redis: redisUrl, queue });
    try {
      const w = await spawnWorker(redisUrl, queue);
      workers.push(w);
      const corrupt = path.join(fx.root, 'corrupt.png');
      writeFileSync(corrupt, 'this is not a PNG');
      const bad = fx.job(path.join(fx.root, 'out', 'poison'));
      bad.targets = [fx.frames[1]!, corrupt];
      const badId = await q.enqueue(bad, { attempts: 3, backoffMs: 100 });
      // Bypassing the producer's check: a malformed job written to the queue directly.
      const raw = await q.queue.add('sequence', { kind: 'sequence', encoder: 42 } as never, { attempts: 3 });
      const goodId = await q.enqueue(fx.job(path.join(fx.root, 'out', 'after-poison')));

      const err = await q.wait(badId).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(P2SamError);
      expect((err as P2SamError).code).toBe('IMAGE_READ_FAILED');
      expect((err as P2SamError).message).toContain('corrupt.png');
      const badJob = (await q.getJob(badId))!;
      expect(await badJob.getState()).toBe('failed');
      expect(badJob.attemptsMade).toBe(1); // not retried: no attempt can fix a corrupt file
      expect(badJob.failedReason).toMatch(/^IMAGE_READ_FAILED: /);
      // No committed result for the failed job, and no staging left behind.
      expect(existsSync(path.join(fx.root, 'out', 'poison', RESULT_FILE))).toBe(false);
      expect(existsSync(path.join(fx.root, 'out', 'poison', STAGING_DIR))).toBe(false);

      const rawErr = await q.wait(String(raw.id)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((rawErr as P2SamError).code).toBe('INVALID_ARGUMENT');
      expect((rawErr as P2SamError).message).toContain('job.encoder');

      const good = await q.wait(goodId, { timeoutMs: 120_000 });
      expect(good.worker.pid).toBe(w.pid);
      await checkOutputs(good, new Map());
      expect(w.proc.exitCode).toBeNull();
      w.proc.kill('SIGTERM');
      expect((await w.exited).code).toBe(0);
    } finally {
      await q.close();
    }
  }, 180_000);

  it('is refused by the producer before it reaches Redis', async () => {
    const q = new P2SamQueue({ redis: redisUrl, queue: `refused-${RUN}` });
    try {
      const job = fx.job('/tmp/x');
      await expect(q.enqueue({ ...job, targets: [] })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: expect.stringContaining('job.targets'),
      });
      await expect(q.enqueue({ ...job, options: { parts: { min: 0, max: 99 } } })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      expect(await q.queue.count()).toBe(0);
    } finally {
      await q.close();
    }
  });
});
