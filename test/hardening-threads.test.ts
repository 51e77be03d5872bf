/**
 * Issue 15 — when the OS refuses a new thread (container pids limits, `ulimit -u`), no
 * p2sam call may abort the process: parallel_for and the Sinkhorn team must join what
 * started and fall back to fewer threads (or fail with a coded error), and ONNX
 * Runtime's intra-op pool must be capped and survive the refusal too.
 *
 * How the limit is imposed: RLIMIT_NPROC counts every thread of a real user id and is
 * not enforced for root, so the child runs as `nobody` (setpriv, without capabilities).
 * It first warms up (addon loaded, libuv's pool started, one model call made), then
 * lowers its own RLIMIT_NPROC (`prlimit --pid <self>`) to its thread count plus 0 or 2:
 * the calls that follow can start at most that many new threads.
 * The test asserts that no call aborts, that nothing rejects without a code, and that
 * every call gives its result with the threads it could get (the calling thread alone
 * can always do the work).
 */
import { spawn } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureBuilt, tempDir } from './cli-helpers';
import { DIST, ROOT, canDropPrivileges, describeExit, type ChildRun } from './hardening-helpers';
import { testkitModel } from './helpers';

const CHILD = String.raw`
const p2sam = require(process.argv[2]);
const input = JSON.parse(process.argv[3]);
const { makeScene } = p2sam.testkit;
function threads() { return Number(/Threads:\s+(\d+)/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))[1]); }
async function attempt(name, fn) {
  try {
    const ok = await fn();
    console.log(name + ': ok ' + ok);
  } catch (e) {
    if (e instanceof p2sam.P2SamError && typeof e.code === 'string') console.log(name + ': coded ' + e.code + ' ' + e.message);
    else { console.log(name + ': UNCODED ' + (e && e.stack || e)); process.exitCode = 4; }
  }
}
(async () => {
  const n = 3000, d = 32;
  const f = new Float32Array(n * d);
  for (let i = 0; i < f.length; i++) f[i] = (Math.sin(i * 12.9898) * 43758.5453) % 1;
  const ref = makeScene({ width: 320, height: 240, seed: 4, scale: 0.55 });
  const small = await p2sam.P2SAM.load({ encoder: input.encoder, decoder: input.decoder, threads: 1 });
  const reference = await small.createReference({ image: ref.image, mask: ref.mask }, { parts: { min: 1, max: 2 } });
  await p2sam.core.kmeans(f, d, { ks: [4], restarts: 1, threads: 1 });
  // Lowering one's own limit needs no capability (raising it, or changing another
  // user's process, would: root in a container without CAP_SYS_RESOURCE cannot).
  const limit = threads() + input.extra;
  const pl = require('node:child_process').spawnSync('prlimit', ['--pid', String(process.pid), '--nproc=' + limit + ':' + limit], { encoding: 'utf8' });
  if (pl.status !== 0) { console.log('prlimit failed: ' + pl.stderr); process.exit(5); }
  console.log('limited to ' + limit + ' threads of user nobody');
  await attempt('kmeans', async () => (await p2sam.core.kmeans(f, d, { ks: [8], restarts: 4, threads: 16 }))[0].labels.length === n);
  await attempt('sinkhorn', async () => Number.isFinite((await p2sam.core.wasserstein(f.subarray(0, 600 * d), f.subarray(600 * d, 1200 * d), d, { solver: 'sinkhorn', threads: 16 })).cost));
  await attempt('segment', async () => (await small.segment(ref.image, { reference })).mask.length === 320 * 240);
  await attempt('load16', async () => {
    const big = await p2sam.P2SAM.load({ encoder: input.encoder, decoder: input.decoder, threads: 16 });
    const r = await big.createReference({ image: ref.image, mask: ref.mask }, { parts: { min: 1, max: 2 } });
    await big.dispose();
    return r.foregroundCells > 0;
  });
  console.log('SURVIVED');
  process.exit(process.exitCode ?? 0);
})().catch((e) => { console.error('child failed:', e); process.exit(3); });
`;

function runLimited(input: { encoder: string; decoder: string }, extra: number): Promise<ChildRun> {
  ensureBuilt();
  const dir = tempDir('hardening-threads');
  chmodSync(dir, 0o755);
  const script = path.join(dir, 'child.cjs');
  writeFileSync(script, CHILD);
  chmodSync(script, 0o644);
  return new Promise((resolve, reject) => {
    const child = spawn(
      'setpriv',
      [
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        process.execPath,
        script,
        DIST,
        JSON.stringify({ ...input, extra }),
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 110_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** The testkit model in a folder `nobody` can read (temp folders are created 0700). */
async function readableModel(): Promise<{ encoder: string; decoder: string }> {
  const m = await testkitModel();
  for (let dir = path.dirname(m.encoder); dir !== '/' && dir.startsWith('/tmp/'); dir = path.dirname(dir))
    chmodSync(dir, 0o755);
  for (const f of [m.encoder, m.decoder]) chmodSync(f, 0o644);
  readFileSync(m.encoder);
  return m;
}

describe.skipIf(!canDropPrivileges())('the OS refuses new threads (RLIMIT_NPROC as nobody)', () => {
  for (const extra of [0, 2]) {
    it(`k-means, Sinkhorn, segment and a 16-thread load with ${extra} more thread(s) allowed: no abort`, async () => {
      const r = await runLimited(await readableModel(), extra);
      console.log(r.stdout);
      expect(r.signal, describeExit(r)).toBeNull();
      expect(r.stdout, describeExit(r)).toContain('SURVIVED');
      expect(r.stdout).not.toContain('UNCODED');
      expect(r.code, describeExit(r)).toBe(0);
      // The calling thread can always do the work itself, so a refused thread means
      // fewer threads, not a failed call; ORT's pool is capped and retried smaller.
      for (const call of ['kmeans', 'sinkhorn', 'segment', 'load16'])
        expect(r.stdout, describeExit(r)).toContain(`${call}: ok true`);
    }, 150_000);
  }
});
