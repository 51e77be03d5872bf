/**
 * Shared by the queue tests: a real redis-server (Debian's) on a random 127.0.0.1 port
 * with persistence off, real `p2sam worker` processes (the compiled CLI), and a set of
 * sequence jobs over testkit scenes.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import * as path from 'node:path';
import type { SequenceJobData } from '../lib/queue';
import { CLI, ensureBuilt, tempDir, writeModel, writeSequence } from './cli-helpers';

export { ensureBuilt };

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** One PING over a raw socket: true when the server answers +PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(500, () => done(false));
    s.once('error', () => done(false));
    s.connect(port, '127.0.0.1', () => s.write('PING\r\n'));
    s.once('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

async function until(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 20_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface RedisServer {
  url: string;
  port: number;
  /** Snapshot (SHUTDOWN SAVE) and stop, then start again on the same port from the snapshot. */
  restart(downMs: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts redis-server bound to 127.0.0.1 on a free port, no RDB saves, no AOF, data
 * folder in a temp dir. Only the restart test writes a snapshot, on purpose.
 */
export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  const dir = tempDir('redis');
  let proc: ChildProcess | undefined;
  const launch = async () => {
    proc = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
        '--loglevel',
        'warning',
      ],
      { stdio: 'ignore' },
    );
    const p = proc;
    await until(`redis-server on port ${port}`, async () => {
      if (p.exitCode !== null)
        throw new Error(`redis-server exited with ${p.exitCode} (is redis-server installed?)`);
      return ping(port);
    });
  };
  const shutdown = async (save: boolean) => {
    const p = proc;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    const s = new Socket();
    s.once('error', () => undefined);
    s.connect(port, '127.0.0.1', () => s.write(save ? 'SHUTDOWN SAVE\r\n' : 'SHUTDOWN NOSAVE\r\n'));
    const timer = setTimeout(() => p.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    s.destroy();
  };
  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    restart: async (downMs: number) => {
      await shutdown(true);
      if (!existsSync(path.join(dir, 'dump.rdb'))) throw new Error('SHUTDOWN SAVE wrote no snapshot');
      await new Promise((r) => setTimeout(r, downMs));
      await launch();
    },
    stop: () => shutdown(false),
  };
}

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

export { until };
