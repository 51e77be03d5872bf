/**
 * `p2sam segment`: one reference (image + mask) against a sequence of targets.
 *
 * The reference is prepared once (one encoder pass, every prototype set) and reused for
 * every target, which is the point of running a sequence through one command. Work is
 * ordered so that mistakes cost nothing: arguments, paths and every output path are
 * checked before the model loads; the next target image is decoded while the current
 * one is segmented.
 *
 * Failure model: a target that fails (corrupt file, inference error) is recorded with its
 * error and the run goes on with the next one (exit 1 at the end); an interrupt (the
 * AbortSignal, wired to SIGINT by the command) abandons the target in flight, keeps what
 * finished and stops (exit 130). report.json is written in every case once the output
 * directory is known, by the `finally` of the run.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Command, Option } from 'commander';
import { P2SamError } from '../errors';
import { readImage, readMask, writeMaskPng } from '../io/image';
import { writeOverlayPng } from '../io/overlay';
import { expandTargets, safeOutputPath } from '../io/targets';
import { P2SAM, type ModelInfo } from '../model';
import * as opt from '../options';
import type { Reference, ReferenceSummary } from '../reference';
import type { CandidateResult, SegmentResult } from '../segment';
import type { ImageData, PromptPoint } from '../types';
import { intParser, numberParser, outputDir, parseRange, parseWindow, requireFile } from './args';
import { EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, UsageError, exitCodeOf, toFlagNames } from './exit-codes';
import { ProgressReporter } from './progress';
import { packageVersion, type CliIO } from './io';

export interface SegmentRunOptions {
  encoder: string;
  decoder: string;
  refImage: string;
  refMask: string;
  /** Files, directories or globs, in the order given. */
  targets: string[];
  out: string;
  mode?: opt.Mode;
  parts?: { min: number; max: number };
  negatives?: { min: number; max: number };
  solver?: 'exact' | 'sinkhorn';
  weights?: 'uniform' | 'sigmoid';
  /** Sinkhorn only: entropic regularisation and iteration cap. */
  epsilon?: number;
  maxIterations?: number;
  threads?: number;
  normalization?: opt.Normalization;
  device?: opt.Device;
  /** Where the ONNX Runtime sessions run, when it should differ from device. */
  modelDevice?: opt.Device;
  /** With --device cuda: the maths stages that use the GPU kernels. */
  gpuStages?: opt.GpuStage[];
  seed?: number;
  restarts?: number;
  /** k-means seeding: 'sklearn' (default) or 'p2sam'. */
  kmeansSeeding?: opt.KMeansSeeding;
  parallelCandidates?: number;
  /** Intensity window for 16-bit images, in the file's sample units. */
  window?: [number, number];
  overlay?: boolean;
  json?: boolean;
  quiet?: boolean;
  /** Recorded in report.json so a run can be repeated. */
  argv?: string[];
}

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

export interface SegmentRunSummary {
  exitCode: number;
  report: SegmentReport | undefined;
  reportPath: string | undefined;
}

/**
 * Output base names for targets: the file name without its extension. Targets that share
 * one (compared case-insensitively, for case-insensitive file systems) are told apart
 * group by group: first by the fewest trailing folder names that make every label in the
 * group distinct (`a__frame1`, `b__frame1`), then, for files in the same folder, by their
 * extension too (`x_png`, `x_jpg`); whatever still collides (e.g. `X.png` and `x.png`)
 * gets a counter in list order (`x-2`). Depends only on the list, so reruns name files
 * the same way.
 */
export function outputNames(files: string[]): string[] {
  const abs = files.map((f) => path.resolve(f));
  const stems = abs.map((f) => path.basename(f, path.extname(f)) || path.basename(f));
  const exts = abs.map((f) => path.extname(f).slice(1) || 'noext');
  const dirs = abs.map((f) => path.dirname(f).split(path.sep).filter(Boolean));
  const key = (s: string) => s.toLowerCase();
  const out = [...stems];
  const groups = new Map<string, number[]>();
  stems.forEach((s, i) => groups.set(key(s), [...(groups.get(key(s)) ?? []), i]));
  for (const group of groups.values()) {
    if (group.length < 2) continue;
    const deepest = Math.max(...group.map((i) => dirs[i]!.length));
    const label = (i: number, depth: number, withExt: boolean) =>
      [...dirs[i]!.slice(Math.max(0, dirs[i]!.length - depth)), stems[i]! + (withExt ? `_${exts[i]}` : '')].join('__');
    search: for (const withExt of [false, true]) {
      for (let depth = withExt ? 0 : 1; depth <= deepest; depth++) {
        const labels = group.map((i) => label(i, depth, withExt));
        if (new Set(labels.map(key)).size === labels.length) {
          group.forEach((i, k) => (out[i] = labels[k]!));
          break search;
        }
      }
    }
  }
  const seen = new Map<string, number>();
  return out.map((n) => {
    const count = (seen.get(key(n)) ?? 0) + 1;
    seen.set(key(n), count);
    return count === 1 ? n : `${n}-${count}`;
  });
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

function settle<T>(p: Promise<T>): Promise<Settled<T>> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

function errorRecord(err: unknown): { code: string; message: string } {
  const code = err instanceof P2SamError ? err.code : err instanceof Error ? err.name : 'ERROR';
  const message = err instanceof Error ? toFlagNames(err.message) : String(err);
  return { code, message };
}

function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function modelSection(info: ModelInfo): NonNullable<SegmentReport['model']> {
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

function writeJsonAtomic(file: string, value: unknown): void {
  // Write-then-rename: a reader (or a second Ctrl-C) never sees half a report.
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n');
  renameSync(tmp, file);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function humanLine(r: TargetRecord): string {
  if (r.status === 'error') return `${r.file}: FAILED ${r.error?.message ?? ''}`;
  if (r.status === 'empty') return `${r.file}: empty mask (${r.reason ?? 'no candidate produced a mask'})`;
  const cover = r.width && r.height ? ((100 * (r.area ?? 0)) / (r.width * r.height)).toFixed(1) : '?';
  const score = r.score === null || r.score === undefined ? 'single candidate' : `score ${r.score.toFixed(4)}`;
  return `${r.file}: ${plural(r.parts ?? 0, 'part')}, ${plural(r.negatives ?? 0, 'negative')}, ${score}, ${cover}% of the image -> ${r.outputs?.mask}`;
}

/** Validates the numeric options through the library's own resolvers, before any I/O. */
function resolveOptions(o: SegmentRunOptions): { ref: opt.ResolvedReference; seg: opt.ResolvedSegment } {
  const ref = opt.resolveReference({
    mode: o.mode,
    parts: o.parts,
    negatives: o.negatives,
    seed: o.seed,
    restarts: o.restarts,
    seeding: o.kmeansSeeding,
  });
  const seg = opt.resolveSegment({
    retrieval: { solver: o.solver, weights: o.weights, epsilon: o.epsilon, maxIterations: o.maxIterations },
    parallelCandidates: o.parallelCandidates,
  });
  opt.resolveLoad({ threads: o.threads, normalization: o.normalization, device: o.device, modelDevice: o.modelDevice, gpuStages: o.gpuStages });
  return { ref, seg };
}

/** What a second Ctrl-C needs to write the report without waiting for the run. */
export interface LiveRun {
  report?: SegmentReport;
  reportPath?: string;
  t0?: number;
}

function finalizeReport(report: SegmentReport, exitCode: number, t0: number): void {
  const t = report.totals;
  t.processed = report.targets.length;
  t.ok = report.targets.filter((r) => r.status === 'ok').length;
  t.empty = report.targets.filter((r) => r.status === 'empty').length;
  t.failed = report.targets.filter((r) => r.status === 'error').length;
  t.notRun = t.targets - t.processed;
  const segs = report.targets.map((r) => r.timings?.segmentMs).filter((x): x is number => typeof x === 'number');
  if (segs.length) t.meanTargetMs = round(segs.reduce((a, b) => a + b, 0) / segs.length);
  t.totalMs = round(performance.now() - t0);
  report.interrupted = exitCode === EXIT_INTERRUPTED;
  report.status = exitCode === EXIT_OK ? 'ok' : exitCode === EXIT_INTERRUPTED ? 'interrupted' : 'failed';
  report.exitCode = exitCode;
  report.finishedAt = new Date().toISOString();
}

export async function runSegment(o: SegmentRunOptions, io: CliIO, signal?: AbortSignal, live?: LiveRun): Promise<SegmentRunSummary> {
  const t0 = performance.now();
  const { ref: refOpts, seg: segOpts } = resolveOptions(o);
  requireFile('--encoder', o.encoder);
  requireFile('--decoder', o.decoder);
  requireFile('--ref-image', o.refImage);
  requireFile('--ref-mask', o.refMask);
  outputDir('--out', o.out);
  if (o.targets.length === 0) throw new UsageError('TARGET: give at least one target image, directory or glob');
  const files = await expandTargets(o.targets);
  const names = outputNames(files);
  const inputs = [...files, o.refImage, o.refMask, o.encoder, o.decoder];
  // Every output path is checked now, so a refused one stops the run before any work.
  const outPaths = names.map((n) => ({
    mask: safeOutputPath(o.out, `${n}.mask.png`, inputs),
    overlay: o.overlay === false ? undefined : safeOutputPath(o.out, `${n}.overlay.png`, inputs),
  }));
  const reportPath = safeOutputPath(o.out, 'report.json', inputs);
  const shown = (abs: string) => path.join(o.out, path.basename(abs));
  mkdirSync(o.out, { recursive: true });

  const progress = ProgressReporter.auto(o.quiet === true, io.stderr);
  signal?.addEventListener(
    'abort',
    () => progress.log('p2sam: interrupted; abandoning the current target and writing report.json (Ctrl-C again to quit at once)'),
    { once: true },
  );
  const report: SegmentReport = {
    tool: 'p2sam',
    version: packageVersion(),
    command: 'segment',
    ...(o.argv ? { argv: o.argv } : {}),
    startedAt: new Date().toISOString(),
    status: 'running',
    interrupted: false,
    out: path.resolve(o.out),
    options: {
      mode: refOpts.mode,
      parts: refOpts.parts,
      negatives: refOpts.negatives,
      seed: refOpts.seed,
      restarts: refOpts.restarts,
      seeding: refOpts.seeding,
      solver: segOpts.solver,
      weights: segOpts.weights,
      ...(segOpts.solver === 'sinkhorn' ? { epsilon: segOpts.epsilon, maxIterations: segOpts.maxIterations } : {}),
      parallelCandidates: segOpts.parallelCandidates,
      threads: o.threads ?? 'all cores',
      normalization: o.normalization ?? 'sam',
      device: o.device ?? 'auto',
      modelDevice: o.modelDevice ?? o.device ?? 'auto',
      window: o.window ?? null,
      overlay: o.overlay !== false,
    },
    // Declared here so it keeps its place in the file when filled in after the load.
    model: undefined,
    reference: { image: o.refImage, mask: o.refMask },
    targets: [],
    totals: { targets: files.length, processed: 0, ok: 0, empty: 0, failed: 0, notRun: files.length },
  };

  let model: P2SAM | undefined;
  let reference: Reference | undefined;
  let exitCode: number = EXIT_OK;
  const warned = new Set<string>();
  const warn = (w: { code: string; message: string }) => {
    if (warned.has(w.code)) return;
    warned.add(w.code);
    progress.log(`p2sam: warning: ${toFlagNames(w.message)}`);
  };
  const aborted = () => signal?.aborted === true;
  let fatal: unknown;
  if (live) {
    live.report = report;
    live.reportPath = reportPath;
    live.t0 = t0;
  }
  const readOpts = o.window ? { window: o.window } : {};
  try {
    const refImage = await readImage(o.refImage, readOpts);
    let refMask;
    try {
      refMask = await readMask(o.refMask, { width: refImage.width, height: refImage.height });
    } catch (err) {
      if (err instanceof P2SamError && err.code === 'MASK_SIZE_MISMATCH') {
        const m = /^mask (\d+)×(\d+)/.exec(err.message);
        const ms = m ? `${m[1]}×${m[2]}` : 'a different size';
        throw new P2SamError(
          'MASK_SIZE_MISMATCH',
          `--ref-mask '${o.refMask}' is ${ms} but --ref-image '${o.refImage}' is ${refImage.width}×${refImage.height}; the mask must have the image's size`,
        );
      }
      throw err;
    }
    if (!refMask.data.some((v) => v !== 0))
      throw new P2SamError('EMPTY_REFERENCE', `--ref-mask '${o.refMask}' has no non-zero pixel: there is no object to learn from`);
    if (aborted()) throw new P2SamError('ABORTED', 'interrupted');

    const tLoad = performance.now();
    model = await P2SAM.load({
      encoder: o.encoder,
      decoder: o.decoder,
      ...(o.threads !== undefined ? { threads: o.threads } : {}),
      ...(o.normalization ? { normalization: o.normalization } : {}),
      ...(o.device ? { device: o.device } : {}),
      ...(o.modelDevice ? { modelDevice: o.modelDevice } : {}),
      ...(o.gpuStages ? { gpuStages: o.gpuStages } : {}),
      onWarning: warn,
    });
    report.model = modelSection(model.info);
    report.totals.loadMs = round(performance.now() - tLoad);
    if (model.info.deviceReason && o.device === 'cuda') warn({ code: 'DEVICE', message: model.info.deviceReason });
    if (aborted()) throw new P2SamError('ABORTED', 'interrupted');

    const tRef = performance.now();
    reference = await model.createReference(
      { image: refImage, mask: refMask },
      { mode: refOpts.mode, parts: refOpts.parts, negatives: refOpts.negatives, seed: refOpts.seed, restarts: refOpts.restarts, seeding: refOpts.seeding, signal },
    );
    const summary: ReferenceSummary = reference.summary();
    report.reference = {
      image: o.refImage,
      mask: o.refMask,
      ...summary,
      maskArea: refMask.data.reduce((a, v) => a + (v !== 0 ? 1 : 0), 0),
      timings: Object.fromEntries(Object.entries(reference.timings).map(([k, v]) => [k, round(v)])),
    };
    report.totals.referenceMs = round(performance.now() - tRef);
    if (summary.skippedParts.length)
      warn({
        code: 'SKIPPED_PARTS',
        message: `part counts ${summary.skippedParts.join(', ')} skipped: the reference mask covers too few feature cells (${summary.foregroundCells})`,
      });

    const tTargets = performance.now();
    progress.start(files.length);
    const read = (i: number) => settle(readImage(files[i]!, readOpts));
    let pending = files.length > 0 ? read(0) : undefined;
    for (let i = 0; i < files.length; i++) {
      if (aborted()) break;
      const file = files[i]!;
      const name = names[i]!;
      const tRead = performance.now();
      const loaded = await pending!;
      const readMs = performance.now() - tRead;
      // Decode the next image while this one is in the encoder.
      pending = i + 1 < files.length ? read(i + 1) : undefined;
      const record: TargetRecord = { index: i, file, name, status: 'ok' };
      progress.update(path.basename(file), 0);
      try {
        if (!loaded.ok) throw loaded.error;
        const image: ImageData = loaded.value;
        const tSeg = performance.now();
        const r: SegmentResult = await model.segment(image, {
          reference,
          retrieval: { solver: segOpts.solver, weights: segOpts.weights, epsilon: segOpts.epsilon, maxIterations: segOpts.maxIterations },
          parallelCandidates: segOpts.parallelCandidates,
          signal,
          onProgress: (p) => progress.update(path.basename(file), p.fraction),
        });
        const segMs = performance.now() - tSeg;
        const tWrite = performance.now();
        const maskData = { data: r.mask, width: r.width, height: r.height };
        const out = outPaths[i]!;
        await Promise.all([
          writeMaskPng(out.mask, maskData),
          out.overlay ? writeOverlayPng(out.overlay, image, maskData, r.points) : Promise.resolve(),
        ]);
        let area = 0;
        for (let p = 0; p < r.mask.length; p++) area += r.mask[p] !== 0 ? 1 : 0;
        Object.assign(record, {
          status: r.empty ? 'empty' : 'ok',
          width: r.width,
          height: r.height,
          parts: r.parts,
          negatives: r.negatives,
          points: r.points,
          score: r.score,
          area,
          empty: r.empty,
          ...(r.reason ? { reason: r.reason } : {}),
          candidates: r.candidates.map((c) => ({ ...c, passes: c.passes.map((p) => ({ ...p, ms: round(p.ms) })) })),
          timings: {
            readMs: round(readMs),
            encodeMs: round(r.timings.encodeMs),
            pointsMs: round(r.timings.pointsMs),
            decoderMs: r.timings.decoderMs.map((x) => round(x)),
            retrievalMs: round(r.timings.retrievalMs),
            candidatesMs: round(r.timings.candidatesMs),
            segmentMs: round(segMs),
            writeMs: round(performance.now() - tWrite),
          },
          outputs: { mask: shown(out.mask), ...(out.overlay ? { overlay: shown(out.overlay) } : {}) },
          warnings: r.warnings,
        } satisfies Partial<TargetRecord>);
        for (const w of r.warnings) warn(w);
      } catch (err) {
        // An abort abandons this target: it is neither a result nor a failure.
        if (aborted()) break;
        record.status = 'error';
        record.error = errorRecord(err);
        exitCode = EXIT_FAILURE;
      }
      report.targets.push(record);
      if (o.json) progress.print(io.stdout, JSON.stringify(record));
      else progress.print(io.stdout, humanLine(record));
      const note =
        record.status === 'error'
          ? 'failed'
          : record.status === 'empty'
            ? 'empty mask'
            : `${plural(record.parts ?? 0, 'part')} in ${((record.timings?.segmentMs as number) / 1000).toFixed(2)} s`;
      progress.targetDone(path.basename(file), note);
    }
    report.totals.targetsMs = round(performance.now() - tTargets);
    // A read of the next image still in flight is settled-wrapped; its result is dropped.
    if (aborted()) throw new P2SamError('ABORTED', 'interrupted');
  } catch (err) {
    if (aborted()) {
      exitCode = EXIT_INTERRUPTED;
    } else {
      exitCode = exitCodeOf(err);
      // ABORTED can only come from our own signal; anything else that maps to it is a failure.
      if (exitCode === EXIT_INTERRUPTED) exitCode = EXIT_FAILURE;
      report.error = errorRecord(err);
      fatal = err;
    }
  } finally {
    progress.finish();
    reference?.dispose();
    await model?.dispose();
  }
  finalizeReport(report, exitCode, t0);
  writeJsonAtomic(reportPath, report);
  if (live) live.report = undefined;
  if (fatal !== undefined) {
    // main() prints this after the error message itself.
    if (fatal instanceof Error) Object.assign(fatal, { reportPath: shown(reportPath) });
    throw fatal;
  }

  const t = report.totals;
  const line =
    `p2sam: ${plural(t.processed, 'target')} of ${t.targets} segmented (${t.empty} empty, ${t.failed} failed${
      report.interrupted ? `, interrupted: ${t.notRun} not run` : ''
    }) in ${((t.totalMs ?? 0) / 1000).toFixed(1)} s; report: ${shown(reportPath)}`;
  // Human mode: the summary is part of the result (stdout). With --json stdout carries only
  // the per-target lines, so the summary is a stderr notice that --quiet silences.
  if (!o.json) io.stdout.write(line + '\n');
  else if (o.quiet !== true || report.interrupted) io.stderr.write(line + '\n');
  return { exitCode, report, reportPath };
}

/** Writes report.json synchronously for a second Ctrl-C, which exits without waiting. */
function emergencyReport(live: LiveRun): void {
  if (!live.report || !live.reportPath) return;
  try {
    finalizeReport(live.report, EXIT_INTERRUPTED, live.t0 ?? 0);
    writeJsonAtomic(live.reportPath, live.report);
  } catch {
    // Exiting anyway; a failed emergency write has no better fallback.
  }
}

export function segmentCommand(io: CliIO, setExit: (code: number) => void): Command {
  return new Command('segment')
    .description('segment target images (files, directories, globs) with one reference image and mask')
    .requiredOption('--encoder <file>', 'SAM image encoder (.onnx)')
    .requiredOption('--decoder <file>', 'SAM mask decoder (.onnx)')
    .requiredOption('--ref-image <file>', 'reference image')
    .requiredOption('--ref-mask <file>', 'reference mask (any non-zero pixel is the object)')
    .requiredOption('-o, --out <dir>', 'output directory (created if missing)')
    .argument('<targets...>', 'target images: files, directories (natural order) or globs')
    .addOption(new Option('--mode <mode>', 'negative prompts: one point (natural) or background parts (medical)').choices(['natural', 'medical']).default('natural'))
    .option('--parts <range>', 'candidate part counts, e.g. 1..5 or 3 (default 1..5)', parseRange)
    .option('--negatives <range>', 'natural: 0 or 1 (default 1); medical: background part counts (default 1..1)', parseRange)
    .addOption(new Option('--solver <solver>', 'optimal-transport solver of the retrieval').choices(['exact', 'sinkhorn']).default('exact'))
    .addOption(new Option('--weights <weights>', 'target point weights in the retrieval').choices(['uniform', 'sigmoid']).default('uniform'))
    .option('--epsilon <x>', 'Sinkhorn regularisation relative to the mean transport cost (default 0.01)', numberParser(0, 10, true))
    .option('--max-iterations <n>', 'Sinkhorn iteration cap (default 1000)', intParser(1, 1_000_000))
    .option('--threads <n>', 'threads for ONNX Runtime and the native maths (default: all cores)', intParser(1, 1024))
    .addOption(new Option('--normalization <n>', 'encoder input normalisation').choices(['sam', 'medsam']).default('sam'))
    .addOption(new Option('--device <device>', 'where the P2SAM maths and (by default) the models run').choices(['auto', 'cpu', 'cuda']).default('auto'))
    .addOption(new Option('--model-device <device>', 'where the ONNX models run, when it should differ from --device').choices(['auto', 'cpu', 'cuda']))
    .option('--gpu-stages <list>', "with the maths on CUDA: comma-separated stages using the GPU kernels, of points,kmeans,scoring (default points)", (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean))
    .option('--seed <n>', 'k-means seed (default 0)', intParser(0, Number.MAX_SAFE_INTEGER))
    .option('--restarts <n>', 'k-means restarts per part count (default 10)', intParser(1, 100))
    .addOption(new Option('--kmeans-seeding <seeding>', "k-means seeding: scikit-learn's KMeans draws or the project's own streams").choices(['sklearn', 'p2sam']).default('sklearn'))
    .option('--parallel-candidates <n>', 'candidates whose decoder cascades run at once (default 1)', intParser(1, 16))
    .option('--window <lo,hi>', 'intensity window for 16-bit images (CT), in sample units, e.g. 0,4095', parseWindow)
    .option('--no-overlay', 'do not write <name>.overlay.png')
    .option('--json', 'print one JSON line per target on stdout (progress stays on stderr)')
    .option('-q, --quiet', 'no progress on stderr')
    .action(async (targets: string[], flags: Record<string, unknown>) => {
      const controller = new AbortController();
      const live: LiveRun = {};
      let interrupts = 0;
      const onSigint = () => {
        interrupts++;
        if (interrupts === 1) {
          controller.abort(new P2SamError('ABORTED', 'interrupted by SIGINT'));
        } else {
          emergencyReport(live);
          process.exit(EXIT_INTERRUPTED);
        }
      };
      process.on('SIGINT', onSigint);
      try {
        const r = await runSegment(
          {
            encoder: flags.encoder as string,
            decoder: flags.decoder as string,
            refImage: flags.refImage as string,
            refMask: flags.refMask as string,
            out: flags.out as string,
            targets,
            mode: flags.mode as opt.Mode,
            parts: flags.parts as { min: number; max: number } | undefined,
            negatives: flags.negatives as { min: number; max: number } | undefined,
            solver: flags.solver as 'exact' | 'sinkhorn',
            weights: flags.weights as 'uniform' | 'sigmoid',
            epsilon: flags.epsilon as number | undefined,
            maxIterations: flags.maxIterations as number | undefined,
            threads: flags.threads as number | undefined,
            normalization: flags.normalization as opt.Normalization,
            device: flags.device as opt.Device,
            modelDevice: flags.modelDevice as opt.Device | undefined,
            gpuStages: flags.gpuStages as opt.GpuStage[] | undefined,
            seed: flags.seed as number | undefined,
            restarts: flags.restarts as number | undefined,
            kmeansSeeding: flags.kmeansSeeding as opt.KMeansSeeding,
            parallelCandidates: flags.parallelCandidates as number | undefined,
            window: flags.window as [number, number] | undefined,
            overlay: flags.overlay as boolean,
            json: flags.json === true,
            quiet: flags.quiet === true,
            argv: process.argv.slice(2),
          },
          io,
          controller.signal,
          live,
        );
        setExit(r.exitCode);
      } finally {
        process.off('SIGINT', onSigint);
      }
    });
}
