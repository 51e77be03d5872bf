/**
 * The queue commands load lib/queue (and with it BullMQ and ioredis) only when they run:
 * those two are optional peer dependencies — a workstation that never uses the queue
 * does not install them, and `p2sam segment` must not fail for their absence.
 */
import { P2SamError } from '../errors';

export type QueueModule = typeof import('../queue');

export async function loadQueueModule(): Promise<QueueModule> {
  for (const dep of ['bullmq', 'ioredis']) {
    try {
      require.resolve(dep);
    } catch {
      throw new P2SamError(
        'INVALID_ARGUMENT',
        `the job queue needs the optional packages bullmq and ioredis, and '${dep}' is not installed: run 'npm install bullmq@6.7.6 ioredis@6.1.0'`,
      );
    }
  }
  return import('../queue');
}
