/**
 * `npm run bench:queue` — queue throughput: jobs per minute with 1 and 2 `p2sam worker`
 * processes on this machine, against a local redis-server.
 *
 *   node dist/bench/queue.js [--jobs 20] [--workers 1,2] [--threads 1] [--out FILE]
 *
 * A job is the fault test's: the testkit model, one 320×240 reference and three targets.
 * The clock runs from the first enqueue to the last completion, with every worker
 * already connected and its model not yet loaded (the first job pays the load, as in
 * production). The load average before and after is recorded because the number means
 * little without it on a shared machine.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeImagePng, writeMaskPng } from '../lib/io/image';
import { P2SamQueue } from '../lib/queue';
import { writeTestkitModel } from '../lib/testkit';
import { sequence } from '../lib/testkit/scenes';
import { startRedis, until } from './redis-server';
import { ROOT, round } from './util';

const CLI = path.join(ROOT, 'dist', 'lib', 'cli', 'main.js');

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

async function startWorkers(
  n: number,
  redis: string,
  queue: string,
  threads: number,
): Promise<ChildProcess[]> {
  const procs: ChildProcess[] = [];
  for (let i = 0; i < n; i++) {
    const p = spawn(
      process.execPath,
      [CLI, 'worker', '--redis', redis, '--queue', queue, '--threads', String(threads)],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let log = '';
    p.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d));
    await until(`worker ${i} ready`, () => /ready on queue/.test(log), 60_000);
    procs.push(p);
  }
  return procs;
}

async function main(): Promise<void> {
  const jobs = Number(arg('jobs', '20'));
  const counts = arg('workers', '1,2').split(',').map(Number);
  const threads = Number(arg('threads', '1'));
  const work = path.join(os.tmpdir(), `p2sam-bench-queue-${process.pid}`);
  const model = await writeTestkitModel(path.join(work, 'model'));
  const frames = sequence(4, { width: 320, height: 240, seed: 11 });
  const files = frames.map((_, i) => path.join(work, 'frames', `frame${i}.png`));
  await Promise.all(frames.map((f, i) => writeImagePng(files[i]!, f.image)));
  const refMask = path.join(work, 'frame0.mask.png');
  await writeMaskPng(refMask, frames[0]!.mask);
  const redis = await startRedis();
  const rows: Record<string, unknown>[] = [];
  try {
    for (const n of counts) {
      const queue = `bench-${n}`;
      const workers = await startWorkers(n, redis.url, queue, threads);
      const q = new P2SamQueue({ redis: redis.url, queue });
      const loadBefore = os.loadavg().map((x) => round(x));
      const t0 = performance.now();
      const ids: string[] = [];
      for (let j = 0; j < jobs; j++)
        ids.push(
          await q.enqueue({
            kind: 'sequence',
            encoder: model.encoder,
            decoder: model.decoder,
            reference: { image: files[0]!, mask: refMask },
            targets: files.slice(1),
            out: path.join(work, 'out', `w${n}-${j}`),
            options: { parts: { min: 1, max: 3 } },
          }),
        );
      await Promise.all(ids.map((id) => q.wait(id)));
      const seconds = (performance.now() - t0) / 1000;
      const row = {
        workers: n,
        threadsPerWorker: threads,
        jobs,
        targetsPerJob: 3,
        seconds: round(seconds),
        jobsPerMinute: round((jobs / seconds) * 60, 1),
        loadAverage: { before: loadBefore, after: os.loadavg().map((x) => round(x)) },
      };
      console.log(JSON.stringify(row));
      rows.push(row);
      await q.close();
      for (const w of workers) w.kill('SIGTERM');
      await Promise.all(
        workers.map((w) => new Promise((r) => (w.exitCode !== null ? r(null) : w.once('exit', r)))),
      );
    }
  } finally {
    await redis.stop();
  }
  const report = {
    benchmark: 'queue-throughput',
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', node: process.version },
    rows,
  };
  const out = arg('out', path.join(ROOT, 'bench', 'results', 'queue-latest.json'));
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`wrote ${out}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
