/**
 * The queue worker behind `p2sam worker`: consumes p2sam jobs from a BullMQ queue.
 *
 * Each job runs with the process's one cached model (model-cache.ts), reports progress
 * through `job.updateProgress`, writes its outputs staged and committed
 * (staged-output.ts) and returns its result, which BullMQ stores on the job. A failure
 * is recorded on the job as `CODE: message`; retry-policy.ts decides whether it is
 * retried. A worker killed mid-job loses its lock after `lockDurationMs`; another
 * worker's stalled-job check then puts the job back in the queue, and since outputs are
 * committed by rename under deterministic names the rerun replaces rather than adds.
 */
import { type Job, Worker } from 'bullmq';
import { P2SamError } from '../errors';
import { redisOptions } from './connection';
import { DEFAULT_QUEUE, type JobProgress, type P2SamJobData } from './job-types';
import { ModelCache, type WorkerLoadSettings } from './model-cache';
import { jobFailure } from './retry-policy';
import { runSequenceJob } from './sequence-job';
import { checkJobData } from './validate-job';
import { runVolumeJob } from './volume-job';

export interface WorkerOptions extends WorkerLoadSettings {
  /** Default redis://127.0.0.1:6379 (connection.ts). */
  redis?: string;
  queue?: string;
  /** Jobs run at once by this process (default 1): they share its one model. */
  concurrency?: number;
  /** How long a job's lock lives without renewal (default 30 000 ms, BullMQ's). */
  lockDurationMs?: number;
  /** How often this worker looks for jobs whose worker died (default 30 000 ms). */
  stalledIntervalMs?: number;
  /** One line per job event, for the CLI's log. */
  log?: (line: string) => void;
}

export interface P2SamWorker {
  readonly worker: Worker;
  readonly models: ModelCache;
  /** Waits for the jobs in flight, then disconnects and disposes the model. */
  close(): Promise<void>;
}

/**
 * Starts consuming jobs; resolves once the worker is connected.
 *
 * @example
 *   const w = await startWorker({ redis: 'redis://127.0.0.1:6379', concurrency: 2 });
 *   process.on('SIGTERM', () => void w.close());
 */
export async function startWorker(o: WorkerOptions = {}): Promise<P2SamWorker> {
  const concurrency = o.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64)
    throw new P2SamError(
      'INVALID_ARGUMENT',
      `concurrency: expected an integer in [1, 64], received ${String(o.concurrency)}`,
    );
  const models = new ModelCache({
    ...(o.threads !== undefined ? { threads: o.threads } : {}),
    ...(o.device ? { device: o.device } : {}),
  });
  const log = o.log ?? (() => undefined);
  const processor = async (job: Job<P2SamJobData>, _token?: string, signal?: AbortSignal) => {
    const attempt = job.attemptsStarted;
    log(`job ${job.id} (${job.name}) started, attempt ${attempt}`);
    try {
      const data = checkJobData(job.data);
      const ctx = {
        jobId: String(job.id),
        attempt,
        models,
        ...(signal ? { signal } : {}),
        onProgress: (p: JobProgress) => job.updateProgress(p as unknown as object),
      };
      const result =
        data.kind === 'sequence' ? await runSequenceJob(data, ctx) : await runVolumeJob(data, ctx);
      log(`job ${job.id} completed in ${result.ms} ms`);
      return result;
    } catch (err) {
      const failure = jobFailure(err);
      log(`job ${job.id} failed: ${failure.message}`);
      throw failure;
    }
  };
  const worker = new Worker<P2SamJobData>(o.queue ?? DEFAULT_QUEUE, processor, {
    connection: redisOptions(o.redis),
    concurrency,
    ...(o.lockDurationMs !== undefined ? { lockDuration: o.lockDurationMs } : {}),
    ...(o.stalledIntervalMs !== undefined ? { stalledInterval: o.stalledIntervalMs } : {}),
  });
  // Without a listener an 'error' event (Redis gone) would throw; ioredis reconnects by itself.
  worker.on('error', (err) => log(`redis: ${err.message}`));
  await worker.waitUntilReady();
  return {
    worker,
    models,
    close: async () => {
      await worker.close();
      await models.close();
    },
  };
}
