/**
 * Issue 15 — the CLI never loses or corrupts results:
 * - outputs appear complete or not at all: a process killed mid-write (here by
 *   SIGXFSZ, the file-size limit, which kills exactly inside a write) leaves no
 *   truncated PNG under a final name;
 * - a write failure stops the run early with a clear error, and `--out` is checked for
 *   writability before any model work;
 * - SIGTERM and SIGHUP end a run like SIGINT: an "interrupted" report, not an older
 *   report.json that says "ok";
 * - output names are unique by construction (`X.png`, `x.png` and `x-2.png` collided)
 *   and report.json maps every input to its output;
 * - `p2sam eval` scores what it can and lists the files it could not read.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  CLI,
  ensureBuilt,
  runCli,
  tempDir,
  writeModel,
  writeSequence,
  type CliRun,
  segmentArgs,
} from './cli-helpers';

let work: string;
let model: { encoder: string; decoder: string };
let refImage: string;
let refMask: string;
let targets: string;
const NAMES = Array.from({ length: 10 }, (_, i) => `t${i}`);

beforeAll(async () => {
  ensureBuilt();
  work = tempDir('hardening-out');
  model = await writeModel(path.join(work, 'model'));
  await writeSequence(['ref', ...NAMES], path.join(work, 'all'), path.join(work, 'gt'), { seed: 5 });
  mkdirSync(path.join(work, 'ref'));
  refImage = path.join(work, 'ref', 'ref.png');
  refMask = path.join(work, 'ref', 'ref.mask.png');
  copyFileSync(path.join(work, 'all', 'ref.png'), refImage);
  copyFileSync(path.join(work, 'gt', 'ref.png'), refMask);
  targets = path.join(work, 'targets');
  mkdirSync(targets);
  for (const n of NAMES) copyFileSync(path.join(work, 'all', `${n}.png`), path.join(targets, `${n}.png`));
}, 120_000);

function base(out: string, extra: string[] = []): string[] {
  return segmentArgs(model, { image: refImage, mask: refMask }, out, ['--parts', '1..2', ...extra]);
}

/** Runs `argv` (a full command line) and lets `onStdout` signal the child. */
function spawnCmd(
  argv: string[],
  onStdout?: (all: string, kill: (s: NodeJS.Signals) => void) => void,
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      onStdout?.(stdout, (s) => child.kill(s));
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

const node = (args: string[]) => [process.execPath, CLI, ...args];

/** Every PNG under a final output name decodes completely. */
async function expectCompletePngs(dir: string): Promise<number> {
  let n = 0;
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.png'))) {
    const file = path.join(dir, f);
    await expect(sharp(file, { failOn: 'truncated' }).raw().toBuffer(), file).resolves.toBeInstanceOf(Buffer);
    n++;
  }
  return n;
}

describe('outputs are complete or absent', () => {
  it('killed inside a write (file-size limit, SIGXFSZ): no truncated PNG under a final name', async () => {
    const out = path.join(work, 'out-fsize');
    // A limit a little above one mask PNG of these frames: an overlay dies mid-write.
    const r = await spawnCmd(['prlimit', '--fsize=6000', '--', ...node(base(out, ['--json', targets]))]);
    expect(r.signal === 'SIGXFSZ' || r.code !== 0, `the limit must bite: ${r.code} ${r.signal}`).toBe(true);
    await expectCompletePngs(out);
  });

  it('a failing write (EFBIG, as a full disk gives ENOSPC) stops the run early with a clear error', async () => {
    const out = path.join(work, 'out-efbig');
    // With SIGXFSZ ignored, the same limit makes write(2) fail with EFBIG. The shell's
    // trap sets the disposition to ignore, which exec keeps.
    const r = await spawnCmd([
      'bash',
      '-c',
      `trap '' XFSZ; exec prlimit --fsize=6000 -- "$@"`,
      'bash',
      ...node(base(out, ['--json', targets])),
    ]);
    expect(r.signal).toBeNull();
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/EFBIG|too large/i);
    // Stopped at the first failed write instead of running every target.
    const lines = r.stdout.trim() ? r.stdout.trim().split('\n') : [];
    expect(lines.length).toBeLessThan(NAMES.length);
    await expectCompletePngs(out);
  });

  it('--out that cannot be written is refused before any model work', async () => {
    // /proc/self is a directory nothing can be created in, even by root.
    const r = await runCli(base('/proc/self', ['--json', targets]));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--out/);
    expect(r.stdout).toBe('');
    expect(r.stderr).not.toMatch(/\[1\//);
  });
});

describe('SIGTERM and SIGHUP end a run like SIGINT', () => {
  for (const [sig, code] of [
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const) {
    it(`${sig}: an interrupted report replaces an older "ok" one, exit ${code}`, async () => {
      const out = path.join(work, `out-${sig}`);
      mkdirSync(out, { recursive: true });
      writeFileSync(
        path.join(out, 'report.json'),
        JSON.stringify({ tool: 'p2sam', status: 'ok', exitCode: 0, targets: [] }),
      );
      let sent = false;
      const r = await spawnCmd(node(base(out, ['--json', targets])), (all, kill) => {
        if (!sent && all.includes('\n')) {
          sent = true;
          kill(sig);
        }
      });
      expect(r.signal, r.stderr).toBeNull();
      expect(r.code).toBe(code);
      const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
      expect(report.status).toBe('interrupted');
      expect(report.interrupted).toBe(true);
      expect(report.targets.length).toBeGreaterThanOrEqual(1);
    });
  }
});

describe('output names', () => {
  it('X.png, x.png and x-2.png get three distinct outputs, mapped in report.json', async () => {
    const dir = path.join(work, 'clash');
    mkdirSync(dir);
    for (const [i, n] of ['X', 'x', 'x-2'].entries())
      copyFileSync(path.join(targets, `t${i}.png`), path.join(dir, `${n}.png`));
    const out = path.join(work, 'out-clash');
    const r = await runCli(base(out, ['--json', '--no-overlay', dir]));
    expect(r.code, r.stderr).toBe(0);
    const masks = readdirSync(out).filter((f) => f.endsWith('.mask.png'));
    expect(masks).toHaveLength(3);
    expect(new Set(masks.map((m) => m.toLowerCase())).size).toBe(3);
    const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
    const mapped = report.targets.map((t: { file: string; outputs?: { mask?: string } }) => [
      path.basename(t.file),
      t.outputs?.mask && path.basename(t.outputs.mask),
    ]);
    expect(new Set(mapped.map((m: string[]) => m[1])).size).toBe(3);
    for (const [, mask] of mapped) expect(masks).toContain(mask);
  });
});

describe('p2sam eval with an unreadable prediction', () => {
  it('scores the other images and lists the bad file', async () => {
    const pred = path.join(work, 'eval-pred');
    mkdirSync(pred);
    for (const n of NAMES.slice(0, 4))
      copyFileSync(path.join(work, 'gt', `${n}.png`), path.join(pred, `${n}.mask.png`));
    writeFileSync(path.join(pred, `${NAMES[1]}.mask.png`), Buffer.from('not a png at all'));
    const gt = path.join(work, 'eval-gt');
    mkdirSync(gt);
    for (const n of NAMES.slice(0, 4))
      copyFileSync(path.join(work, 'gt', `${n}.png`), path.join(gt, `${n}.png`));
    const r = await runCli(['eval', '--pred', pred, '--gt', gt, '--json']);
    expect(r.code).toBe(1);
    const result = JSON.parse(r.stdout);
    expect(JSON.stringify(result)).toContain(`${NAMES[1]}.mask.png`);
    const scored = JSON.stringify(result);
    for (const n of [NAMES[0], NAMES[2], NAMES[3]]) expect(scored).toContain(n);
    expect(r.stderr).toMatch(new RegExp(`${NAMES[1]}\\.mask\\.png`));
  });
});
