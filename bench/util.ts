/**
 * Shared helpers of the benchmark: robust statistics, memory readings, machine facts,
 * child-process sections and a plain-text table printer.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Repository root, from dist/bench/*.js or bench/*.ts. */
export const ROOT = path.resolve(
  __dirname,
  '..',
  path.basename(path.resolve(__dirname, '..')) === 'dist' ? '..' : '',
);

export interface Summary {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function summary(xs: number[]): Summary {
  if (xs.length === 0) return { median: NaN, min: NaN, max: NaN, n: 0 };
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median: round(median), min: round(s[0]!), max: round(s[s.length - 1]!), n: s.length };
}

export function median(xs: number[]): number {
  return summary(xs).median;
}

export function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Least-squares slope of ys over 0..n-1 (e.g. RSS growth per target). */
export function slope(ys: number[]): number {
  const n = ys.length;
  if (n < 2) return 0;
  const mx = (n - 1) / 2;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  ys.forEach((y, i) => {
    num += (i - mx) * (y - my);
    den += (i - mx) ** 2;
  });
  return num / den;
}

function statusField(field: string): number {
  // /proc/self/status reports kB; VmHWM is the peak resident set since process start,
  // which is why each measured configuration runs in its own child process.
  try {
    const m = readFileSync('/proc/self/status', 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
    if (m) return Number(m[1]) / 1024;
  } catch {
    /* not Linux: fall back below */
  }
  return field === 'VmHWM' ? process.resourceUsage().maxRSS / 1024 : process.memoryUsage().rss / 1048576;
}

/** Peak resident set size of this process in MiB. */
export function peakRssMiB(): number {
  return round(statusField('VmHWM'), 1);
}

/** Current resident set size in MiB. */
export function rssMiB(): number {
  return round(statusField('VmRSS'), 1);
}

export function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  totalMemGiB: number;
  os: string;
  node: string;
  onnxruntime: string;
  threads: number;
  loadAverage: { start: number[]; end?: number[] };
}

export function machineInfo(threads: number): MachineInfo {
  const cpus = os.cpus();
  let ortVersion = 'unknown';
  try {
    ortVersion = JSON.parse(
      readFileSync(path.join(ROOT, 'node_modules', 'onnxruntime-node', 'package.json'), 'utf8'),
    ).version;
  } catch {
    /* reported as unknown */
  }
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    totalMemGiB: round(os.totalmem() / 2 ** 30, 1),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    onnxruntime: ortVersion,
    threads,
    loadAverage: { start: os.loadavg().map((x) => round(x)) },
  };
}

/**
 * Runs one benchmark section in a fresh Node process (so its peak RSS is its own) and
 * returns the JSON object it prints on its last stdout line.
 */
export function runChild<T>(section: string, args: Record<string, unknown>, timeoutMs: number): T {
  const script = path.join(__dirname, 'run.js');
  const r = spawnSync(
    process.execPath,
    ['--expose-gc', script, '--child', section, '--child-args', JSON.stringify(args)],
    {
      encoding: 'utf8',
      timeout: timeoutMs,
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, ORT_LOGGING_LEVEL: '3' },
    },
  );
  if (r.error) throw new Error(`bench section ${section}: ${r.error.message}`);
  const lines = r.stdout.trim().split('\n');
  const last = lines[lines.length - 1] ?? '';
  if (r.status !== 0 || !(last.startsWith('{') || last.startsWith('['))) {
    throw new Error(
      `bench section ${section} failed (exit ${r.status}):\n${r.stderr
        .split('\n')
        .filter((l) => !l.includes('onnxruntime'))
        .slice(-15)
        .join('\n')}`,
    );
  }
  return JSON.parse(last) as T;
}

/** A native bench executable's --json output, or a reason it could not run. */
export function runNative(
  name: string,
  args: string[],
  timeoutMs: number,
): { ok: true; json: unknown } | { ok: false; reason: string } {
  const exe = path.join(ROOT, 'build', 'Release', name);
  const r = spawnSync(exe, [...args, '--json'], {
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 16 * 1024 * 1024,
  });
  if (r.error)
    return {
      ok: false,
      reason: `${exe}: ${(r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not built (run node scripts/build-native.mjs)' : r.error.message}`,
    };
  if (r.status !== 0)
    return { ok: false, reason: `${exe} exited ${r.status}: ${r.stderr.trim().slice(-300)}` };
  try {
    return { ok: true, json: JSON.parse(r.stdout) };
  } catch {
    return { ok: false, reason: `${exe}: output is not JSON: ${r.stdout.slice(0, 200)}` };
  }
}

/** Prints rows as an aligned text table; an undefined cell (a measurement that did not run) stays blank. */
export function table(title: string, header: string[], rows: (string | number | undefined)[][]): void {
  const cells = [header, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c)))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? '').length)));
  console.log(`\n${title}`);
  cells.forEach((r, j) => {
    console.log(
      `  ${r
        .map((c, i) =>
          String(c ?? '')
            .padStart(i === 0 ? 0 : widths[i]!)
            .padEnd(i === 0 ? widths[i]! : 0),
        )
        .join('  ')}`,
    );
    if (j === 0) console.log(`  ${widths.map((w) => '-'.repeat(w)).join('  ')}`);
  });
}

export function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (Number.isInteger(x)) return String(x);
  return Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2);
}
