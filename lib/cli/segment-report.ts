/**
 * report.json of `p2sam segment`: its shape, how a finished (or interrupted) run fills in
 * the totals, how it is written (atomically, so a reader never sees half of it) and the
 * one-line human summary of each target.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { P2SamError } from '../errors';
import type { ModelInfo } from '../model';
import type { CandidateResult } from '../segment';
import type { PromptPoint } from '../types';
import { describeArgumentError, EXIT_INTERRUPTED, EXIT_OK } from './exit-codes';

/** A candidate as report.json records it: the library's CandidateResult (no masks in it). */
export type CandidateRecord = CandidateResult;

export interface TargetRecord {
  index: number;
  file: string;
  name: string;
  status: 'ok' | 'empty' | 'error';
  width?: number;
  height?: number;
  parts?: number;
  negatives?: number;
  points?: PromptPoint[];
  score?: number | null;
  /** Foreground pixels of the chosen mask. */
  area?: number;
  empty?: boolean;
  reason?: string;
  candidates?: CandidateRecord[];
  timings?: Record<string, number | number[]>;
  outputs?: { mask: string; overlay?: string };
  warnings?: { code: string; message: string }[];
  error?: { code: string; message: string };
}

export interface SegmentReport {
  tool: 'p2sam';
  version: string;
  command: 'segment';
  argv?: string[];
  startedAt: string;
  finishedAt?: string;
  status: 'running' | 'ok' | 'failed' | 'interrupted';
  interrupted: boolean;
  exitCode?: number;
  error?: { code: string; message: string };
  out: string;
  model?: {
    encoder: Record<string, unknown>;
    decoder: Record<string, unknown>;
    device: string;
    modelDevice: string;
    gpuStages: string[];
    deviceReason?: string;
    threads: number | 'all cores';
    normalization: string;
  };
  options: Record<string, unknown>;
  reference: Record<string, unknown>;
  targets: TargetRecord[];
  totals: {
    targets: number;
    processed: number;
    ok: number;
    empty: number;
    failed: number;
    notRun: number;
    loadMs?: number;
    referenceMs?: number;
    /** Wall time from the first target read to the last output written. */
    targetsMs?: number;
    meanTargetMs?: number;
    totalMs?: number;
  };
}

/** The report's form of an error: the P2SamError code (else the JS error name) and the message in flag names. */
export function errorRecord(err: unknown): { code: string; message: string } {
  const code = err instanceof P2SamError ? err.code : err instanceof Error ? err.name : 'ERROR';
  const message = describeArgumentError(err) ?? (err instanceof Error ? err.message : String(err));
  return { code, message };
}

/** Report numbers (milliseconds mostly) keep `digits` decimals: enough to compare runs, short to read. */
export function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** The report's model section: ModelInfo with `source` named `file` and 0 threads spelled out. */
export function modelSection(info: ModelInfo): NonNullable<SegmentReport['model']> {
  const side = (m: ModelInfo['encoder']) => {
    const { source, ...rest } = m;
    return { file: source, ...rest };
  };
  return {
    encoder: side(info.encoder),
    decoder: side(info.decoder),
    device: info.device,
    modelDevice: info.modelDevice,
    gpuStages: info.gpuStages,
    ...(info.deviceReason ? { deviceReason: info.deviceReason } : {}),
    threads: info.threads === 0 ? 'all cores' : info.threads,
    normalization: info.normalization,
  };
}

/** Writes `value` as pretty JSON to `file` through a temporary file and a rename. */
export function writeJsonAtomic(file: string, value: unknown): void {
  // Write-then-rename: a reader (or a second Ctrl-C) never sees half a report.
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(tmp, file);
}

/** `1 part`, `3 parts`. */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The line a finished target prints on stdout without --json. */
export function humanLine(r: TargetRecord): string {
  if (r.status === 'error') return `${r.file}: FAILED ${r.error?.message ?? ''}`;
  if (r.status === 'empty') return `${r.file}: empty mask (${r.reason ?? 'no candidate produced a mask'})`;
  const cover = r.width && r.height ? ((100 * (r.area ?? 0)) / (r.width * r.height)).toFixed(1) : '?';
  const score =
    r.score === null || r.score === undefined ? 'single candidate' : `score ${r.score.toFixed(4)}`;
  return `${r.file}: ${plural(r.parts ?? 0, 'part')}, ${plural(r.negatives ?? 0, 'negative')}, ${score}, ${cover}% of the image -> ${r.outputs?.mask}`;
}

/** What a second Ctrl-C needs to write the report without waiting for the run. */
export interface LiveRun {
  report?: SegmentReport;
  reportPath?: string;
  t0?: number;
}

/** Fills in the totals, status, exit code and finish time once the run ended with `exitCode`. */
export function finalizeReport(report: SegmentReport, exitCode: number, t0: number): void {
  const t = report.totals;
  t.processed = report.targets.length;
  t.ok = report.targets.filter((r) => r.status === 'ok').length;
  t.empty = report.targets.filter((r) => r.status === 'empty').length;
  t.failed = report.targets.filter((r) => r.status === 'error').length;
  t.notRun = t.targets - t.processed;
  const segs = report.targets
    .map((r) => r.timings?.segmentMs)
    .filter((x): x is number => typeof x === 'number');
  if (segs.length) t.meanTargetMs = round(segs.reduce((a, b) => a + b, 0) / segs.length);
  t.totalMs = round(performance.now() - t0);
  // 130 (SIGINT), 143 (SIGTERM), 129 (SIGHUP): 128 + the signal that stopped the run.
  report.interrupted = exitCode === EXIT_INTERRUPTED || exitCode === 143 || exitCode === 129;
  report.status = exitCode === EXIT_OK ? 'ok' : report.interrupted ? 'interrupted' : 'failed';
  report.exitCode = exitCode;
  report.finishedAt = new Date().toISOString();
}

/** Writes report.json synchronously for a second Ctrl-C, which exits without waiting. */
export function emergencyReport(live: LiveRun): void {
  if (!live.report || !live.reportPath) return;
  try {
    finalizeReport(live.report, EXIT_INTERRUPTED, live.t0 ?? 0);
    writeJsonAtomic(live.reportPath, live.report);
  } catch {
    // Exiting anyway; a failed emergency write has no better fallback.
  }
}
