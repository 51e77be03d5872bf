/**
 * `p2sam enqueue` and `p2sam worker` as a shell user runs them, against a real
 * redis-server: a followed job prints queued → progress → completed as JSON lines; a job
 * that fails prints its code and exits 1; a bad --redis URL is a usage error.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './cli-helpers';
import {
  ensureBuilt,
  type JobFixture,
  jobFixture,
  type RedisServer,
  spawnWorker,
  startRedis,
  type WorkerProcess,
} from './queue-helpers';

let redis: RedisServer | undefined;
let url: string;
let fx: JobFixture;
let worker: WorkerProcess;
const queue = `cli-${process.pid}-${Date.now()}`;

beforeAll(async () => {
  ensureBuilt();
  fx = await jobFixture();
  if (process.env.REDIS_URL) url = process.env.REDIS_URL;
  else {
    redis = await startRedis();
    url = redis.url;
  }
  worker = await spawnWorker(url, queue);
}, 120_000);

afterAll(async () => {
  worker?.proc.kill('SIGTERM');
  await worker?.exited;
  await redis?.stop();
});

function enqueueArgs(out: string, targets: string[]): string[] {
  return [
    'enqueue',
    '--redis',
    url,
    '--queue',
    queue,
    '--encoder',
    fx.model.encoder,
    '--decoder',
    fx.model.decoder,
    '--ref-image',
    fx.frames[0]!,
    '--ref-mask',
    fx.gt[0]!,
    '--parts',
    '1..3',
    '--out',
    out,
    ...targets,
  ];
}

describe('p2sam enqueue', () => {
  it('--follow --json: queued, one progress line per target, then the result', async () => {
    const out = path.join(fx.root, 'out', 'cli-follow');
    const r = await runCli([...enqueueArgs(out, fx.frames.slice(1)), '--follow', '--json'], {
      timeoutMs: 120_000,
    });
    expect(r.code, r.stderr).toBe(0);
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; done?: number; result?: { out: string } });
    expect(events[0]!.event).toBe('queued');
    expect(events.at(-1)!.event).toBe('completed');
    const done = events.filter((e) => e.event === 'progress').map((e) => e.done);
    expect(done).toEqual(expect.arrayContaining([0, 1, 2, 3]));
    const result = JSON.parse(readFileSync(path.join(out, 'result.json'), 'utf8')) as { targets: unknown[] };
    expect(events.at(-1)!.result).toEqual(result);
    expect(result.targets).toHaveLength(3);
  }, 150_000);

  it('--wait on a job that fails: its code on stdout, exit 1', async () => {
    const out = path.join(fx.root, 'out', 'cli-fail');
    const r = await runCli([...enqueueArgs(out, [path.join(fx.root, 'missing.png')]), '--wait'], {
      timeoutMs: 120_000,
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /^queued job \d+\njob \d+ failed: IMAGE_READ_FAILED: .*missing\.png.*file does not exist/m,
    );
  }, 150_000);

  it('a malformed --redis URL is a usage error', async () => {
    const r = await runCli([
      ...enqueueArgs(path.join(fx.root, 'out', 'x'), [fx.frames[1]!]),
      '--redis',
      'http://nope',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('redis: expected a redis:// or rediss:// URL, received "http://nope"');
  });
});
