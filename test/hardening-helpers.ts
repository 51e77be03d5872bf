/**
 * Shared by the hardening tests (issue 15): they provoke faults that would take a
 * process down — a worker terminated mid-call, a refused thread, an allocation that
 * fails — so every such scenario runs in a child process of its own, which compiles
 * nothing: it requires the built package from dist/ (see ensureBuilt in cli-helpers).
 */
import { spawn, spawnSync, type SpawnOptions } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { ensureBuilt, ROOT, tempDir } from './cli-helpers';

export { ROOT };
/** The CommonJS entry of the built package, for child scripts to require. */
export const DIST = path.join(ROOT, 'dist', 'lib', 'index.js');

export interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Why a child ended, in words a failing assertion can show. */
export function describeExit(r: ChildRun): string {
  return `exit ${r.code} signal ${r.signal}\n--- stdout\n${r.stdout.slice(-3000)}\n--- stderr\n${r.stderr.slice(-3000)}`;
}

/**
 * Runs `source` (CommonJS) as a script in a fresh node process. The script reads its
 * inputs from `process.argv[2]` (JSON). `wrap` lets a caller put a command in front of
 * node (setpriv, prlimit); `stdin` is written and closed.
 */
export function runScript(
  source: string,
  input: unknown,
  opts: { wrap?: string[]; timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string; stdin?: string } = {},
): Promise<ChildRun> {
  ensureBuilt();
  const dir = tempDir('hardening-script');
  const file = path.join(dir, 'script.cjs');
  writeFileSync(file, source);
  const argv = [process.execPath, file, JSON.stringify(input)];
  const cmd = opts.wrap ? [...opts.wrap, ...argv] : argv;
  return new Promise((resolve, reject) => {
    const spawnOpts: SpawnOptions = {
      cwd: opts.cwd ?? ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    };
    const child = spawn(cmd[0]!, cmd.slice(1), spawnOpts);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin!.end(opts.stdin ?? '');
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 90_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** True when this process may run a child as another user (setpriv from util-linux, as root). */
export function canDropPrivileges(): boolean {
  if (process.getuid?.() !== 0) return false;
  return spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'true']).status === 0;
}
