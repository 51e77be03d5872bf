/**
 * Shared by the queue tests: a real redis-server (Debian's) on a random 127.0.0.1 port
 * with persistence off, real `p2sam worker` processes (the compiled CLI), and a set of
 * sequence jobs over testkit scenes.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { until } from '../bench/redis-server';
import type { SequenceJobData } from '../lib/queue';
import { CLI, ensureBuilt, tempDir, writeModel, writeSequence } from './cli-helpers';

export { type RedisServer, startRedis, until } from '../bench/redis-server';
export { ensureBuilt };

export interface WorkerProcess {
  proc: ChildProcess;
  pid: number;
  log: () => string;
  /** Resolves once a log line matches. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns `p2sam worker` and resolves once it has logged `ready`. */
export async function spawnWorker(
  redis: string,
  queue: string,
  extra: string[] = [],
): Promise<WorkerProcess> {
  const proc = spawn(
    process.execPath,
    [
      CLI,
      'worker',
      '--redis',
      redis,
      '--queue',
      queue,
      '--threads',
      '1',
      '--lock-duration',
      '3000',
      '--stalled-interval',
      '1000',
      ...extra,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let text = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (text += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    proc.once('exit', (code, signal) => r({ code, signal })),
  );
  const w: WorkerProcess = {
    proc,
    pid: proc.pid!,
    log: () => text,
    waitFor: async (re, timeoutMs = 60_000) => {
      let m: RegExpMatchArray | null = null;
      await until(
        `worker ${proc.pid} to log ${re}`,
        () => {
          m = text.match(re);
          if (m === null && proc.exitCode !== null)
            throw new Error(`worker exited (${proc.exitCode}):\n${text}`);
          return m !== null;
        },
        timeoutMs,
      );
      return m!;
    },
    exited,
  };
  await w.waitFor(/ready on queue/);
  return w;
}

export interface JobFixture {
  model: { encoder: string; decoder: string };
  frames: string[];
  gt: string[];
  root: string;
  job(out: string): SequenceJobData;
}

/** The testkit model and a 4-frame sequence: frame 0 (+ mask) is the reference of every job. */
export async function jobFixture(): Promise<JobFixture> {
  const root = tempDir('queue');
  const model = await writeModel(path.join(root, 'model'));
  const names = ['frame0', 'frame1', 'frame2', 'frame3'];
  await writeSequence(names, path.join(root, 'frames'), path.join(root, 'gt'));
  const frames = names.map((n) => path.join(root, 'frames', `${n}.png`));
  const gt = names.map((n) => path.join(root, 'gt', `${n}.png`));
  mkdirSync(path.join(root, 'out'), { recursive: true });
  return {
    model,
    frames,
    gt,
    root,
    job: (out) => ({
      kind: 'sequence',
      encoder: model.encoder,
      decoder: model.decoder,
      reference: { image: frames[0]!, mask: gt[0]! },
      targets: frames.slice(1),
      out,
      options: { parts: { min: 1, max: 3 } },
    }),
  };
}
