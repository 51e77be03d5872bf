/**
 * `p2sam enqueue`: submit one sequence job (a reference against targets) to the queue,
 * and optionally wait for it.
 *
 *   p2sam enqueue --encoder E --decoder D --ref-image R --ref-mask M --out DIR
 *                 [--redis URL] [--queue NAME] [--job-id ID] [--attempts N]
 *                 [--wait | --follow] [--json] TARGET…
 *
 * Paths are the worker's: they are made absolute here (against this directory) but not
 * checked, since this machine may not see the worker's files. Prints the job id; with
 * --wait prints the result once the job ends, with --follow also each progress step.
 * Exit 0 queued/completed, 1 the job failed (its recorded error is printed), 2 usage.
 */
import * as path from 'node:path';
import { Command, Option } from 'commander';
import { P2SamError } from '../errors';
import { DEFAULT_REDIS_URL } from '../queue/connection';
import { DEFAULT_QUEUE, type SequenceJobData } from '../queue/job-types';
import { intParser, parseRange } from './args';
import { EXIT_FAILURE, EXIT_OK } from './exit-codes';
import type { CliIO } from './io';
import { loadQueueModule } from './queue-module';

export function enqueueCommand(io: CliIO, setExit: (code: number) => void): Command {
  return new Command('enqueue')
    .description('submit a segmentation job to a p2sam worker queue; see docs/queue.md')
    .argument('<targets...>', 'target image paths (as the worker sees them)')
    .requiredOption('--encoder <path>', 'encoder .onnx on the worker')
    .requiredOption('--decoder <path>', 'decoder .onnx on the worker')
    .requiredOption('--ref-image <path>', 'reference image')
    .requiredOption('--ref-mask <path>', 'reference mask')
    .requiredOption('--out <dir>', 'output folder of this job')
    .option('--redis <url>', 'Redis server', DEFAULT_REDIS_URL)
    .option('--queue <name>', 'queue name', DEFAULT_QUEUE)
    .option('--job-id <id>', 'stable job id: submitting the same id again is a no-op')
    .option('--attempts <n>', 'tries in all, with exponential backoff', intParser(1, 100), 3)
    .addOption(new Option('--mode <mode>', 'natural or medical').choices(['natural', 'medical']))
    .option('--parts <range>', 'part counts to try, e.g. 1..5', parseRange)
    .option('--overlay', 'also write <name>.overlay.png')
    .option('--wait', 'wait for the job and print its result')
    .option('--follow', 'like --wait, printing each progress step')
    .option('--json', 'machine-readable output (one JSON line per event)')
    .action(async (targets: string[], flags: Record<string, unknown>) => {
      const abs = (p: unknown) => path.resolve(p as string);
      const data: SequenceJobData = {
        kind: 'sequence',
        encoder: abs(flags.encoder),
        decoder: abs(flags.decoder),
        reference: { image: abs(flags.refImage), mask: abs(flags.refMask) },
        targets: targets.map(abs),
        out: abs(flags.out),
        options: {
          ...(flags.mode ? { mode: flags.mode as 'natural' | 'medical' } : {}),
          ...(flags.parts ? { parts: flags.parts as { min: number; max: number } } : {}),
          ...(flags.overlay ? { overlay: true } : {}),
        },
      };
      const json = flags.json === true;
      const say = (obj: Record<string, unknown>, line: string) =>
        io.stdout.write(`${json ? JSON.stringify(obj) : line}\n`);
      const { P2SamQueue } = await loadQueueModule();
      const q = new P2SamQueue({ redis: flags.redis as string, queue: flags.queue as string });
      try {
        const id = await q.enqueue(data, {
          attempts: flags.attempts as number,
          ...(flags.jobId ? { jobId: flags.jobId as string } : {}),
        });
        say({ event: 'queued', jobId: id }, `queued job ${id}`);
        if (!flags.wait && !flags.follow) return setExit(EXIT_OK);
        try {
          const result = await q.wait(id, {
            ...(flags.follow
              ? {
                  onProgress: (p) =>
                    say(
                      { event: 'progress', jobId: id, ...p },
                      `job ${id}: ${p.done}/${p.total}${p.current ? ` ${p.current}` : ''}`,
                    ),
                }
              : {}),
          });
          say(
            { event: 'completed', jobId: id, result },
            `job ${id} completed on ${result.worker.host}:${result.worker.pid} (attempt ${result.attempt}): ${result.kind === 'sequence' ? `${result.targets.length} masks` : result.rtstruct} in ${result.out}`,
          );
          setExit(EXIT_OK);
        } catch (err) {
          const code = err instanceof P2SamError ? err.code : ((err as { code?: string }).code ?? 'ERROR');
          say(
            { event: 'failed', jobId: id, code, message: (err as Error).message },
            `job ${id} failed: ${code}: ${(err as Error).message}`,
          );
          setExit(EXIT_FAILURE);
        }
      } finally {
        await q.close();
      }
    });
}
