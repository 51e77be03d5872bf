/**
 * The run behind `p2sam segment`: one reference (image + mask) against a sequence of targets.
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
import { mkdirSync, unlinkSync } from 'node:fs';
import * as path from 'node:path';
import { P2SamError } from '../errors';
import { writeFileAtomicSync } from '../io/atomic-file';
import { readImageInfo, readMaskInfo, writeMaskPng } from '../io/image';
import { MAX_MASK_LEVELS } from '../io/image-decode';
import { writeOverlayPng } from '../io/overlay';
import { P2SAM } from '../model';
import * as opt from '../options';
import type { Reference, ReferenceSummary } from '../reference';
import type { SegmentResult } from '../segment';
import type { ImageData } from '../types';
import { outputDir, requireFile } from './args';
import {
  describeWarning,
  EXIT_FAILURE,
  EXIT_INTERRUPTED,
  EXIT_OK,
  exitCodeOf,
  UsageError,
} from './exit-codes';
import { packageVersion, type CliIO } from './io';
import { ProgressReporter } from './progress';
import type { DecodedImage, DecodedMask } from '../io/image-decode';
import {
  errorRecord,
  finalizeReport,
  humanLine,
  type LiveRun,
  modelSection,
  plural,
  round,
  type SegmentReport,
  type TargetRecord,
  writeJsonAtomic,
} from './segment-report';
import { expandTargets, outputNames, safeOutputPath } from './targets';

/** The retrieval flags are the library's RetrievalOptions (minus the tolerance, which has no flag). */
export interface SegmentRunOptions
  extends Pick<opt.RetrievalOptions, 'solver' | 'weights' | 'epsilon' | 'maxIterations'> {
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

export interface SegmentRunSummary {
  exitCode: number;
  report: SegmentReport | undefined;
  reportPath: string | undefined;
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

function settle<T>(p: Promise<T>): Promise<Settled<T>> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
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
  opt.resolveLoad({
    threads: o.threads,
    normalization: o.normalization,
    device: o.device,
    modelDevice: o.modelDevice,
    gpuStages: o.gpuStages,
  });
  return { ref, seg };
}

export async function runSegment(
  o: SegmentRunOptions,
  io: CliIO,
  signal?: AbortSignal,
  live?: LiveRun,
): Promise<SegmentRunSummary> {
  const t0 = performance.now();
  const { ref: refOpts, seg: segOpts } = resolveOptions(o);
  requireFile('--encoder', o.encoder);
  requireFile('--decoder', o.decoder);
  requireFile('--ref-image', o.refImage);
  requireFile('--ref-mask', o.refMask);
  outputDir('--out', o.out);
  if (o.targets.length === 0)
    throw new UsageError('TARGET: give at least one target image, directory or glob');
  const skipped: string[] = [];
  const files = await expandTargets(o.targets, { onSkipped: (f) => skipped.push(...f) });
  const names = outputNames(files);
  const inputs = [...files, o.refImage, o.refMask, o.encoder, o.decoder];
  // Every output path is checked now, so a refused one stops the run before any work.
  const outPaths = names.map((n) => ({
    mask: safeOutputPath(o.out, `${n}.mask.png`, inputs),
    overlay: o.overlay === false ? undefined : safeOutputPath(o.out, `${n}.overlay.png`, inputs),
  }));
  const reportPath = safeOutputPath(o.out, 'report.json', inputs);
  const shown = (abs: string) => path.join(o.out, path.basename(abs));
  checkWritable(o.out);

  const progress = ProgressReporter.auto(o.quiet === true, io.stderr);
  if (skipped.length)
    progress.log(
      `p2sam: warning: left out ${plural(skipped.length, 'file')} that look like masks or overlays (${skipped
        .slice(0, 3)
        .map((f) => path.basename(f))
        .join(', ')}${skipped.length > 3 ? ', …' : ''}); name them explicitly to segment them`,
    );
  signal?.addEventListener(
    'abort',
    () =>
      progress.log(
        'p2sam: interrupted; abandoning the current target and writing report.json (Ctrl-C again to quit at once)',
      ),
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
      ...(segOpts.solver === 'sinkhorn'
        ? { epsilon: segOpts.epsilon, maxIterations: segOpts.maxIterations }
        : {}),
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
  const warn = (w: { code: string; message: string; params?: string[] }) => {
    if (warned.has(w.code)) return;
    warned.add(w.code);
    progress.log(`p2sam: warning: ${describeWarning(w)}`);
  };
  const aborted = () => signal?.aborted === true;
  let fatal: unknown;
  let writeFailure: OutputWriteError | undefined;
  if (live) {
    live.report = report;
    live.reportPath = reportPath;
    live.t0 = t0;
  }
  const readOpts = o.window ? { window: o.window } : {};
  try {
    const refImage = await readImageInfo(o.refImage, readOpts);
    checkBitDepth(o.refImage, refImage, o.window, progress);
    let refMask: DecodedMask;
    try {
      refMask = await readMaskInfo(o.refMask, { width: refImage.width, height: refImage.height });
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
    if (refMask.levels > MAX_MASK_LEVELS) {
      // A mask has a few values; an image hundreds. If the "image" is the one with few,
      // the two arguments were most likely given the wrong way round.
      const swapped = distinctValues(refImage.data, refImage.channels, 3) <= 2;
      throw new UsageError(
        swapped
          ? `--ref-mask '${o.refMask}' is an image (more than ${MAX_MASK_LEVELS} distinct values) and --ref-image '${o.refImage}' looks like a mask: were --ref-image and --ref-mask swapped?`
          : `--ref-mask '${o.refMask}' is not a binary mask or a label map (more than ${MAX_MASK_LEVELS} distinct values); give the reference object's mask`,
      );
    }
    if (!refMask.data.some((v) => v !== 0))
      throw new P2SamError(
        'EMPTY_REFERENCE',
        `--ref-mask '${o.refMask}' has no non-zero pixel: there is no object to learn from`,
      );
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
    if (model.info.deviceReason && o.device === 'cuda')
      warn({ code: 'DEVICE', message: model.info.deviceReason });
    if (aborted()) throw new P2SamError('ABORTED', 'interrupted');

    const tRef = performance.now();
    reference = await model.createReference(
      { image: refImage, mask: refMask },
      {
        mode: refOpts.mode,
        parts: refOpts.parts,
        negatives: refOpts.negatives,
        seed: refOpts.seed,
        restarts: refOpts.restarts,
        seeding: refOpts.seeding,
        signal,
      },
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
    const read = (i: number) => settle(readImageInfo(files[i]!, readOpts));
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
        checkBitDepth(file, loaded.value, o.window, progress);
        const tSeg = performance.now();
        const r: SegmentResult = await model.segment(image, {
          reference,
          retrieval: {
            solver: segOpts.solver,
            weights: segOpts.weights,
            epsilon: segOpts.epsilon,
            maxIterations: segOpts.maxIterations,
          },
          parallelCandidates: segOpts.parallelCandidates,
          signal,
          onProgress: (p) => progress.update(path.basename(file), p.fraction),
        });
        const segMs = performance.now() - tSeg;
        const tWrite = performance.now();
        const maskData = { data: r.mask, width: r.width, height: r.height };
        const out = outPaths[i]!;
        try {
          await Promise.all([
            writeMaskPng(out.mask, maskData),
            out.overlay ? writeOverlayPng(out.overlay, image, maskData, r.points) : Promise.resolve(),
          ]);
        } catch (err) {
          throw new OutputWriteError(out.mask, err);
        }
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
          candidates: r.candidates.map((c) => ({
            ...c,
            passes: c.passes.map((p) => ({ ...p, ms: round(p.ms) })),
          })),
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
        // A failed write (full disk, quota, file-size limit) would fail every later target
        // the same way, after minutes of model work each: stop now and say why.
        if (err instanceof OutputWriteError) writeFailure = err;
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
      if (writeFailure) throw writeFailure;
    }
    report.totals.targetsMs = round(performance.now() - tTargets);
    // A read of the next image still in flight is settled-wrapped; its result is dropped.
    if (aborted()) throw new P2SamError('ABORTED', 'interrupted');
  } catch (err) {
    if (aborted()) {
      // 128 + the signal's number (130 SIGINT, 143 SIGTERM, 129 SIGHUP), set by the command.
      const byReason = (signal?.reason as { exitCode?: unknown } | undefined)?.exitCode;
      exitCode = typeof byReason === 'number' ? byReason : EXIT_INTERRUPTED;
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
  try {
    writeJsonAtomic(reportPath, report);
  } catch (err) {
    // The targets' own outcome is the better error to report; this one is said too.
    io.stderr.write(`p2sam: error: could not write ${shown(reportPath)}: ${(err as Error).message}\n`);
    if (fatal === undefined) {
      fatal = new OutputWriteError(reportPath, err);
      exitCode = EXIT_FAILURE;
    }
  }
  if (live) live.report = undefined;
  if (fatal !== undefined) {
    // main() prints this after the error message itself.
    if (fatal instanceof Error) Object.assign(fatal, { reportPath: shown(reportPath) });
    throw fatal;
  }

  const t = report.totals;
  const line = `p2sam: ${plural(t.processed, 'target')} of ${t.targets} segmented (${t.empty} empty, ${t.failed} failed${
    report.interrupted ? `, interrupted: ${t.notRun} not run` : ''
  }) in ${((t.totalMs ?? 0) / 1000).toFixed(1)} s; report: ${shown(reportPath)}`;
  // Human mode: the summary is part of the result (stdout). With --json stdout carries only
  // the per-target lines, so the summary is a stderr notice that --quiet silences.
  if (!o.json) io.stdout.write(`${line}\n`);
  else if (o.quiet !== true || report.interrupted) io.stderr.write(`${line}\n`);
  return { exitCode, report, reportPath };
}

/** A result that could not be written; the run stops on the first one. */
class OutputWriteError extends Error {
  constructor(file: string, cause: unknown) {
    super(
      `cannot write ${file}: ${(cause as Error)?.message ?? String(cause)}; stopping (is the disk full?)`,
      { cause },
    );
    this.name = 'OutputWriteError';
  }
}

/**
 * --out must take files before any model work: creating it, then a probe file in it
 * (the same no-follow, write-then-rename path the results take).
 */
function checkWritable(out: string): void {
  const probe = path.join(out, `.p2sam-write-check.${process.pid}`);
  try {
    mkdirSync(out, { recursive: true });
    writeFileAtomicSync(probe, 'p2sam\n');
    unlinkSync(probe);
  } catch (err) {
    throw new UsageError(`--out '${out}' is not writable: ${(err as Error).message}`);
  }
}

/** Distinct values of the first channel, counted up to `cap` + 1. */
function distinctValues(data: Uint8Array | Uint8ClampedArray, channels: number, cap: number): number {
  const seen = new Uint8Array(256);
  let n = 0;
  for (let i = 0; i < data.length && n <= cap; i += channels) {
    if (!seen[data[i]!]) {
      seen[data[i]!] = 1;
      n++;
    }
  }
  return n;
}

const warnedDepth = new Set<string>();

/**
 * Bit-depth mistakes that silently wreck a run: 12-bit CT in a 16-bit PNG without
 * --window is scaled by 1/257 into 0..16 (nearly black, "nothing similar"), and
 * --window on 8-bit data is applied in 8-bit units, which is rarely what was meant.
 * Each is said once per run.
 */
function checkBitDepth(
  file: string,
  img: DecodedImage,
  window: [number, number] | undefined,
  progress: ProgressReporter,
): void {
  const once = (key: string, text: string) => {
    if (warnedDepth.has(key)) return;
    warnedDepth.add(key);
    progress.log(`p2sam: warning: ${text}`);
  };
  if (img.bitDepth === 16 && window === undefined && img.maxSample <= 4095)
    once(
      '12-bit',
      `'${file}' is a 16-bit image whose values only reach ${img.maxSample} (12-bit data such as CT?): scaled over the full 16-bit range it becomes nearly black; pass --window 0,4095 (or the CT window you want)`,
    );
  if (img.bitDepth === 8 && window !== undefined)
    once(
      'window-8-bit',
      `--window ${window.join(',')} is meant for 16-bit images, but '${file}' is 8-bit: the window was applied in 8-bit units (0..255)`,
    );
}
