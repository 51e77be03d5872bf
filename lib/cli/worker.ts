/**
 * `p2sam worker`: consume segmentation jobs from a Redis queue until stopped.
 *
 *   p2sam worker [--redis redis://127.0.0.1:6379] [--queue p2sam] [--concurrency 1]
 *                [--threads N] [--device auto|cpu|cuda]
 *
 * SIGINT/SIGTERM stop taking jobs, let the ones in flight finish, then exit 0; a second
 * signal exits at once (130) — the jobs it held go back to the queue when their lock
 * expires. Logs one line per job event on stderr; the first line (`ready …`) says the
 * worker is connected.
 */
import { Command, Option } from 'commander';
// Neither module loads BullMQ (type-only imports), so building the command stays cheap.
import { DEFAULT_REDIS_URL } from '../queue/connection';
import { DEFAULT_QUEUE } from '../queue/job-types';
import { intParser } from './args';
import { EXIT_INTERRUPTED, EXIT_OK } from './exit-codes';
import type { CliIO } from './io';
import { loadQueueModule } from './queue-module';

/** The URL as it may be printed: the password replaced. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}

export function workerCommand(io: CliIO, setExit: (code: number) => void): Command {
  return new Command('worker')
    .description('consume p2sam jobs from a Redis queue (BullMQ); see docs/queue.md')
    .option('--redis <url>', 'Redis server', DEFAULT_REDIS_URL)
    .option('--queue <name>', 'queue name', DEFAULT_QUEUE)
    .option('--concurrency <n>', 'jobs at once in this process (they share one model)', intParser(1, 64), 1)
    .option('--threads <n>', 'threads of the model and maths (default: all cores)', intParser(1, 1024))
    .addOption(new Option('--device <device>', 'where the work runs').choices(['auto', 'cpu', 'cuda']))
    .addOption(
      new Option('--lock-duration <ms>', "job lock lifetime; a dead worker's job is retaken after it")
        .argParser(intParser(1000, 3_600_000))
        .default(30_000),
    )
    .addOption(
      new Option('--stalled-interval <ms>', 'how often to look for jobs of dead workers')
        .argParser(intParser(500, 3_600_000))
        .default(30_000),
    )
    .action(async (flags: Record<string, unknown>) => {
      const log = (line: string) => io.stderr.write(`p2sam worker: ${line}\n`);
      const { startWorker } = await loadQueueModule();
      const w = await startWorker({
        redis: flags.redis as string,
        queue: flags.queue as string,
        concurrency: flags.concurrency as number,
        lockDurationMs: flags.lockDuration as number,
        stalledIntervalMs: flags.stalledInterval as number,
        ...(flags.threads !== undefined ? { threads: flags.threads as number } : {}),
        ...(flags.device ? { device: flags.device as 'auto' | 'cpu' | 'cuda' } : {}),
        log,
      });
      log(
        `ready on queue '${flags.queue as string}' at ${redactUrl(flags.redis as string)}, concurrency ${flags.concurrency as number}, pid ${process.pid}`,
      );
      await new Promise<void>((resolve) => {
        let stopping = false;
        const stop = (signal: NodeJS.Signals) => {
          if (stopping) {
            log(`${signal} again: exiting without waiting`);
            process.exit(EXIT_INTERRUPTED);
          }
          stopping = true;
          log(`${signal}: finishing the jobs in flight, then exiting`);
          w.close().then(resolve, (err: unknown) => {
            log(`close: ${(err as Error).message}`);
            resolve();
          });
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      log(`stopped (${w.models.loads} model load${w.models.loads === 1 ? '' : 's'})`);
      setExit(EXIT_OK);
    });
}
