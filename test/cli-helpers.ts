/**
 * Shared by the CLI tests: they spawn the real compiled binary (dist/lib/cli/main.js),
 * as a user's shell would, so commander parsing, exit codes, stdout/stderr separation
 * and signals are all exercised for real.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { writeImagePng, writeMaskPng } from '../lib/io/image';
import { sequence, type Scene } from '../lib/testkit/scenes';

export { tempDir } from './helpers';

export const ROOT = path.resolve(__dirname, '..');
export const CLI = path.join(ROOT, 'dist', 'lib', 'cli', 'main.js');

function newestSource(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Compiles lib/ once when dist/ is missing or older than the sources (CI runs `prepare`
 * first, so this only matters for a developer running vitest directly). Test files run
 * in parallel forks, so a lock directory (mkdir is atomic) keeps two tsc runs from
 * writing dist/ at the same time.
 */
export function ensureBuilt(): void {
  const fresh = () => existsSync(CLI) && statSync(CLI).mtimeMs >= newestSource(path.join(ROOT, 'lib'));
  if (fresh()) return;
  const lock = path.join(ROOT, 'dist', '.cli-test-build.lock');
  mkdirSync(path.dirname(lock), { recursive: true });
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${lock}; remove it if no build is running`);
      sleep(200);
    }
  }
  try {
    if (fresh()) return;
    const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', path.join(ROOT, 'tsconfig.json')], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    // tsc still emits when another file has a type error; only a missing entry is fatal.
    if (!existsSync(CLI)) throw new Error(`tsc did not produce ${CLI}:\n${r.stdout}\n${r.stderr}`);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: opts.cwd ?? ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 50_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Writes frames as `<names[i]>.png` into frameDir and their masks into maskDir. */
export async function writeSequence(
  names: string[],
  frameDir: string,
  maskDir: string,
  opts: { width?: number; height?: number; seed?: number } = {},
): Promise<Scene[]> {
  const frames = sequence(names.length, {
    width: opts.width ?? 320,
    height: opts.height ?? 240,
    seed: opts.seed ?? 11,
  });
  for (let i = 0; i < names.length; i++) {
    await writeImagePng(path.join(frameDir, `${names[i]}.png`), frames[i]!.image);
    await writeMaskPng(path.join(maskDir, `${names[i]}.png`), frames[i]!.mask);
  }
  return frames;
}

export async function writeModel(dir: string): Promise<{ encoder: string; decoder: string }> {
  const r = await runCli(['testkit-model', '--out', dir, '--json']);
  if (r.code !== 0) throw new Error(`testkit-model failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as { encoder: string; decoder: string };
}

/** The argv of `p2sam segment` with a model and a reference; `extra` adds targets and flags. */
export function segmentArgs(
  model: { encoder: string; decoder: string },
  ref: { image: string; mask: string },
  out: string,
  extra: string[] = [],
): string[] {
  return [
    'segment',
    '--encoder',
    model.encoder,
    '--decoder',
    model.decoder,
    '--ref-image',
    ref.image,
    '--ref-mask',
    ref.mask,
    '--out',
    out,
    ...extra,
  ];
}
