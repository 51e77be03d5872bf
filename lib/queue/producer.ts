/**
 * The producer side: submit p2sam jobs to a queue and wait for or follow them.
 *
 * Jobs are checked (validate-job.ts) before they are added, so a malformed job is
 * refused here with its field named instead of failing later on a worker. Each job gets
 * `attempts` tries with exponential backoff (retry-policy.ts); giving a `jobId` makes the
 * submission itself idempotent (BullMQ ignores a second add with the same id).
 */
import { type Job, Queue, QueueEvents } from 'bullmq';
import { redisOptions } from './connection';
import { DEFAULT_QUEUE, type JobProgress, type P2SamJobData, type P2SamJobResult } from './job-types';
import { DEFAULT_ATTEMPTS, DEFAULT_BACKOFF, jobError } from './retry-policy';
import { checkJobData } from './validate-job';

export interface QueueConnection {
  /** Default redis://127.0.0.1:6379. */
  redis?: string;
  queue?: string;
  /** Connection errors (Redis restarting, unreachable); the client reconnects by itself. Default: ignored. */
  onError?: (err: Error) => void;
}

export interface EnqueueOptions {
  /** A stable id (e.g. derived from the output folder) turns a repeated submit into a no-op. */
  jobId?: string;
  /** Tries in all, first included (default 3). */
  attempts?: number;
  /** First retry delay in ms, doubled each time (default 1000). */
  backoffMs?: number;
}

export interface WaitOptions {
  onProgress?: (p: JobProgress) => void;
  /** Give up waiting (the job keeps running) after this many ms; default: wait forever. */
  timeoutMs?: number;
}

/**
 * A connection to one p2sam queue.
 *
 * @example
 *   const q = new P2SamQueue({ redis: 'redis://127.0.0.1:6379' });
 *   const id = await q.enqueue({ kind: 'sequence', encoder, decoder,
 *     reference: { image: 'ref.png', mask: 'ref-mask.png' }, targets: ['t1.png'], out: 'out/case1' });
 *   const result = await q.wait(id, { onProgress: (p) => console.log(p.done, '/', p.total) });
 *   await q.close();
 */
export class P2SamQueue {
  readonly queue: Queue<P2SamJobData, P2SamJobResult, string>;
  #events: QueueEvents | undefined;
  readonly #connection: QueueConnection;

  constructor(c: QueueConnection = {}) {
    this.#connection = c;
    this.queue = new Queue<P2SamJobData, P2SamJobResult>(c.queue ?? DEFAULT_QUEUE, {
      connection: redisOptions(c.redis),
    });
    // An 'error' event without a listener is printed by BullMQ; reconnecting is ioredis' job.
    this.queue.on('error', (err: Error) => c.onError?.(err));
    // Every wait() in flight listens on the queue and its events stream (BullMQ's
    // waitUntilFinished); hundreds of concurrent waits are normal for a producer.
    this.queue.setMaxListeners(0);
  }

  /** Validates and adds a job; resolves to its id. */
  async enqueue(data: P2SamJobData, o: EnqueueOptions = {}): Promise<string> {
    const checked = checkJobData(data);
    const job = await this.queue.add(checked.kind, checked, {
      attempts: o.attempts ?? DEFAULT_ATTEMPTS,
      backoff: { ...DEFAULT_BACKOFF, ...(o.backoffMs !== undefined ? { delay: o.backoffMs } : {}) },
      ...(o.jobId !== undefined ? { jobId: o.jobId } : {}),
    });
    return String(job.id);
  }

  /** The job's events stream, opened on first use (one Redis connection per producer). */
  async #queueEvents(): Promise<QueueEvents> {
    if (!this.#events) {
      this.#events = new QueueEvents(this.#connection.queue ?? DEFAULT_QUEUE, {
        connection: redisOptions(this.#connection.redis),
      });
      this.#events.on('error', (err: Error) => this.#connection.onError?.(err));
      this.#events.setMaxListeners(0);
      await this.#events.waitUntilReady();
    }
    return this.#events;
  }

  /**
   * Resolves with the job's result once it completes; rejects with its recorded error
   * (a P2SamError with the worker's code, e.g. IMAGE_READ_FAILED) once it has failed for good.
   */
  async wait(jobId: string, o: WaitOptions = {}): Promise<P2SamJobResult> {
    const events = await this.#queueEvents();
    const onProgress = ({ jobId: id, data }: { jobId: string; data: unknown }) => {
      if (id === jobId) o.onProgress?.(data as JobProgress);
    };
    if (o.onProgress) events.on('progress', onProgress);
    try {
      const job = await this.queue.getJob(jobId);
      if (!job)
        throw Object.assign(new Error(`job ${jobId} is not in queue '${this.queue.name}'`), {
          code: 'JOB_NOT_FOUND',
        });
      try {
        return await job.waitUntilFinished(events, o.timeoutMs);
      } catch (err) {
        throw jobError((err as Error).message);
      }
    } finally {
      if (o.onProgress) events.off('progress', onProgress);
    }
  }

  /** The stored job (state, result, failure, attempts), for status queries. */
  getJob(jobId: string): Promise<Job<P2SamJobData, P2SamJobResult> | undefined> {
    return this.queue.getJob(jobId);
  }

  async close(): Promise<void> {
    await this.#events?.close();
    await this.queue.close();
  }
}
