/**
 * Job queue (BullMQ on Redis): workers that segment image sequences for many machines'
 * producers. See docs/queue.md.
 */
export { DEFAULT_REDIS_URL, redisOptions } from './connection';
export {
  DEFAULT_QUEUE,
  type JobProgress,
  type JobSegmentOptions,
  type JobTargetResult,
  type P2SamJobData,
  type P2SamJobResult,
  type SequenceJobData,
  type SequenceJobResult,
  type VolumeJobData,
  type VolumeJobResult,
} from './job-types';
export { P2SamQueue, type EnqueueOptions, type QueueConnection, type WaitOptions } from './producer';
export { jobError } from './retry-policy';
export { RESULT_FILE } from './sequence-job';
export { startWorker, type P2SamWorker, type WorkerOptions } from './worker';
