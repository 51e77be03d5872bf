/**
 * `p2sam volume`: contour a new CT visit from an annotated earlier visit of the patient.
 *
 *   p2sam volume --encoder E --decoder D --ref-series DIR --ref-rtstruct RS.dcm --roi GTV
 *                --target-series DIR --out DIR [--window mediastinum|lung|LOW,HIGH]
 *                [--format rtstruct,seg,nifti,png] [--margin-mm N] [--z-offset-mm N] [--json]
 *   p2sam volume --encoder E --decoder D --manifest visits.csv --out DIR
 *
 * Writes into --out: the target RTSTRUCT (rtstruct.dcm) and, as asked, seg.dcm and
 * mask.nii.gz; slices/slice-NNN.overlay.png for every slice the model ran on (+ the mask
 * PNGs with 'png'); review.png (reference beside target per slice) and report.json.
 * Why one file of ~680 lines: the single visit and the manifest batch share the flag
 * mapping, path checks, outputs and report; the algorithm itself is in lib/volume/.
 * A manifest (CSV with a header, or a JSON array) runs many visits with one model load:
 * columns patient, ref_series, ref_rtstruct, roi, target_series, and optionally visit and
 * truth_rtstruct (+ truth_roi) for metrics; relative paths are relative to the manifest.
 * Each visit writes into DIR/<patient>/<visit>/ and summary.json sums them up.
 *
 * Same contract as `segment`: arguments and paths are checked before the model loads;
 * progress on stderr (bar on a TTY, lines otherwise); exit 0 ok, 1 a run failed, 2 usage,
 * 130 Ctrl-C (report.json still written; no partial structure set is written, since a
 * half-contoured visit must not look like a finished one).
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { P2SamError } from '../errors';
import { writeImagePng, writeMaskPng } from '../io/image';
import { writeOverlayPng } from '../io/overlay';
import { safeOutputPath } from './targets';
import { P2SAM } from '../model';
import type * as opt from '../options';
import { readDicomSeries } from '../clinical/dicom-series';
import { readRtstruct } from '../clinical/rtstruct-read';
import { writeRtstruct } from '../clinical/rtstruct-write';
import { writeDicomSeg } from '../clinical/seg';
import { writeNifti } from '../clinical/nifti';
import { huWindowBounds, type HuWindow } from '../clinical/window';
import type { MaskVolume } from '../clinical/volume';
import { segmentVolume, type VolumeSegmentation } from '../volume/segment-volume';
import { ReferenceSliceCache } from '../volume/reference-cache';
import { volumeMetrics, type VolumeMetrics } from '../volume/metrics3d';
import { renderVolumeMontage } from '../volume/montage';
import { maskSlice, sliceImage } from '../volume/slice-image';
import { intParser, numberParser, outputDir, parseRange, requireDir, requireFile } from './args';
import { EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, UsageError, describeError, exitCodeOf } from './exit-codes';
import { ProgressReporter } from './progress';
import { packageVersion, type CliIO } from './io';

export type VolumeFormat = 'rtstruct' | 'seg' | 'nifti' | 'png';
const FORMATS: readonly VolumeFormat[] = ['rtstruct', 'seg', 'nifti', 'png'];

export interface VisitInput {
  patient?: string;
  visit?: string;
  refSeries: string;
  refRtstruct: string;
  roi: string;
  targetSeries: string;
  truthRtstruct?: string;
  truthRoi?: string;
}

export interface VolumeRunOptions {
  encoder: string;
  decoder: string;
  out: string;
  window: HuWindow;
  formats: VolumeFormat[];
  marginMm?: number;
  zOffsetMm?: number;
  outputRoi?: string;
  mode: opt.Mode;
  parts?: { min: number; max: number };
  negatives?: { min: number; max: number };
  threads?: number;
  seed?: number;
  restarts?: number;
  consistency: 'none' | 'components';
  allowOtherPatient: boolean;
  pipeline?: boolean;
  referenceSpacingMm?: number;
  json: boolean;
  quiet: boolean;
}

export interface VisitReport {
  patient?: string;
  visit?: string;
  status: 'ok' | 'failed' | 'interrupted' | 'not-run';
  error?: { code: string; message: string };
  inputs: VisitInput;
  alignment?: VolumeSegmentation['alignment'];
  summary?: VolumeSegmentation['summary'];
  metrics?: Omit<VolumeMetrics, 'perSlice'> & { perSlice: VolumeMetrics['perSlice'] };
  outputs: Record<string, string | string[]>;
  slices?: VolumeSegmentation['slices'];
}

/** `mediastinum`, `lung`, `soft-tissue`, `p2sam` or `LOW,HIGH` in HU. */
export function parseHuWindow(value: string): HuWindow {
  const parts = value.split(',').map((s) => s.trim());
  if (parts.length === 2) {
    const w: [number, number] = [Number(parts[0]) + 0, Number(parts[1]) + 0];
    if (parts.some((p) => p === '') || !w.every(Number.isFinite) || !(w[0] < w[1]))
      throw new InvalidArgumentError('expected LOW,HIGH in HU with LOW < HIGH, e.g. -160,240');
    return w;
  }
  try {
    huWindowBounds(value as HuWindow);
  } catch {
    throw new InvalidArgumentError(
      "expected 'mediastinum', 'lung', 'soft-tissue', 'p2sam' or LOW,HIGH in HU",
    );
  }
  return value as HuWindow;
}

export function parseFormats(value: string): VolumeFormat[] {
  const list = value
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  if (list.length === 0)
    throw new InvalidArgumentError(`expected a comma-separated list of ${FORMATS.join(', ')}`);
  for (const f of list)
    if (!(FORMATS as readonly string[]).includes(f))
      throw new InvalidArgumentError(`unknown format '${f}'; expected some of ${FORMATS.join(', ')}`);
  return [...new Set(list)] as VolumeFormat[];
}

function writeJsonAtomic(file: string, value: unknown): void {
  const tmp = `${file}.partial-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(tmp, file);
}

function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function errorRecord(err: unknown): { code: string; message: string } {
  return {
    code: err instanceof P2SamError ? err.code : err instanceof UsageError ? 'USAGE' : 'ERROR',
    message: err instanceof Error ? err.message : String(err),
  };
}

// ---- manifest ------------------------------------------------------------------------

const MANIFEST_COLUMNS = ['patient', 'ref_series', 'ref_rtstruct', 'roi', 'target_series'] as const;

/** Splits one CSV line (RFC 4180 quotes; commas inside quotes kept). */
function csvFields(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  out.push(cur.trim());
  return out;
}

/**
 * Reads a manifest: CSV with a header row, or a JSON array of objects, with the columns
 * of the file comment. Paths are resolved against the manifest's folder.
 */
export function readManifest(file: string): VisitInput[] {
  const text = readFileSync(file, 'utf8');
  const base = path.dirname(path.resolve(file));
  let rows: Record<string, unknown>[];
  const trimmed = text.trim();
  if (trimmed.startsWith('[') || trimmed.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch (err) {
      throw new UsageError(`--manifest: ${file} is not valid JSON: ${(err as Error).message}`);
    }
    if (!Array.isArray(parsed)) throw new UsageError(`--manifest: ${file} must hold a JSON array of visits`);
    rows = parsed as Record<string, unknown>[];
  } else {
    const lines = trimmed.split(/\r?\n/).filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
    if (lines.length < 2)
      throw new UsageError(`--manifest: ${file} needs a header row and at least one visit`);
    const header = csvFields(lines[0]!).map((h) => h.toLowerCase());
    rows = lines.slice(1).map((l, i) => {
      const f = csvFields(l);
      if (f.length !== header.length)
        throw new UsageError(
          `--manifest: ${file} line ${i + 2} has ${f.length} fields, the header has ${header.length}`,
        );
      return Object.fromEntries(header.map((h, j) => [h, f[j]]));
    });
  }
  if (rows.length === 0) throw new UsageError(`--manifest: ${file} lists no visits`);
  const seen = new Set<string>();
  return rows.map((r, i) => {
    const where = `--manifest: ${file} visit ${i + 1}`;
    if (typeof r !== 'object' || r === null) throw new UsageError(`${where}: expected an object`);
    for (const c of MANIFEST_COLUMNS)
      if (typeof r[c] !== 'string' || (r[c] as string) === '')
        throw new UsageError(
          `${where}: missing '${c}' (columns: ${MANIFEST_COLUMNS.join(', ')}[, visit, truth_rtstruct, truth_roi])`,
        );
    const p = (k: string) => path.resolve(base, r[k] as string);
    const visit = typeof r.visit === 'string' && r.visit !== '' ? r.visit : `visit-${i + 1}`;
    const key = `${r.patient}/${visit}`;
    if (seen.has(key))
      throw new UsageError(
        `${where}: patient '${r.patient}' visit '${visit}' appears twice (give a distinct 'visit' column)`,
      );
    seen.add(key);
    for (const part of [r.patient as string, visit])
      if (!/^[A-Za-z0-9._-]+$/.test(part))
        throw new UsageError(
          `${where}: '${part}' is used as a folder name and may contain only letters, digits, '.', '_' and '-'`,
        );
    return {
      patient: r.patient as string,
      visit,
      refSeries: p('ref_series'),
      refRtstruct: p('ref_rtstruct'),
      roi: r.roi as string,
      targetSeries: p('target_series'),
      ...(typeof r.truth_rtstruct === 'string' && r.truth_rtstruct !== ''
        ? { truthRtstruct: p('truth_rtstruct') }
        : {}),
      ...(typeof r.truth_roi === 'string' && r.truth_roi !== '' ? { truthRoi: r.truth_roi } : {}),
    };
  });
}

function checkVisitPaths(v: VisitInput, prefix = ''): void {
  requireDir(`${prefix}--ref-series`, v.refSeries);
  requireFile(`${prefix}--ref-rtstruct`, v.refRtstruct);
  requireDir(`${prefix}--target-series`, v.targetSeries);
  if (v.truthRtstruct) requireFile(`${prefix}--truth-rtstruct`, v.truthRtstruct);
}

// ---- one visit ------------------------------------------------------------------------

async function runVisit(
  model: P2SAM,
  input: VisitInput,
  outDir: string,
  o: VolumeRunOptions,
  io: CliIO,
  progress: ProgressReporter,
  signal: AbortSignal | undefined,
  referenceCache?: ReferenceSliceCache,
): Promise<VisitReport> {
  const report: VisitReport = {
    ...(input.patient ? { patient: input.patient, visit: input.visit } : {}),
    status: 'not-run',
    inputs: input,
    outputs: {},
  };
  const inputs = [
    input.refSeries,
    input.refRtstruct,
    input.targetSeries,
    ...(input.truthRtstruct ? [input.truthRtstruct] : []),
  ];
  mkdirSync(outDir, { recursive: true });
  const reportPath = safeOutputPath(outDir, 'report.json', inputs);
  const label = input.patient ? `${input.patient}/${input.visit}` : path.basename(input.targetSeries);
  try {
    const reference = await readDicomSeries(input.refSeries);
    const refMask = readRtstruct(input.refRtstruct, reference, { roi: input.roi });
    const target = await readDicomSeries(input.targetSeries);
    let truth: MaskVolume | undefined;
    if (input.truthRtstruct)
      truth = readRtstruct(input.truthRtstruct, target, { roi: input.truthRoi ?? input.roi });
    let started = false;
    let lastDone = 0;
    const result = await segmentVolume(
      model,
      target,
      { volume: reference, mask: refMask },
      {
        window: o.window,
        marginMm: o.marginMm,
        zOffsetMm: o.zOffsetMm,
        consistency: o.consistency,
        allowOtherPatient: o.allowOtherPatient,
        ...(referenceCache ? { referenceCache } : {}),
        ...(o.pipeline !== undefined ? { pipeline: o.pipeline } : {}),
        ...(o.referenceSpacingMm !== undefined ? { referenceSpacingMm: o.referenceSpacingMm } : {}),
        reference: {
          mode: o.mode,
          ...(o.parts ? { parts: o.parts } : {}),
          ...(o.negatives ? { negatives: o.negatives } : {}),
          ...(o.seed !== undefined ? { seed: o.seed } : {}),
          ...(o.restarts !== undefined ? { restarts: o.restarts } : {}),
        },
        signal,
        onProgress: (p) => {
          if (!started) {
            progress.start(p.total);
            started = true;
          }
          if (p.done > lastDone) {
            lastDone = p.done;
            progress.targetDone(`${label} slice ${p.targetSlice}`, 'done');
          } else progress.update(`${label} slice ${p.targetSlice}`, p.fraction);
        },
      },
    );
    report.alignment = result.alignment;
    report.summary = result.summary;
    report.slices = result.slices;
    const roiName = o.outputRoi ?? input.roi;
    // Outputs: each one checked against the inputs, written whole (temp + rename in the writers).
    if (o.formats.includes('rtstruct')) {
      const f = safeOutputPath(outDir, 'rtstruct.dcm', inputs);
      writeRtstruct(f, target, [{ name: roiName, mask: result.mask, interpretedType: 'GTV' }], {
        label: 'P2SAM',
        seriesDescription: `P2SAM ${roiName} from ${path.basename(input.refSeries)}`,
      });
      report.outputs.rtstruct = f;
    }
    if (o.formats.includes('seg')) {
      const f = safeOutputPath(outDir, 'seg.dcm', inputs);
      writeDicomSeg(f, target, [{ label: roiName, mask: result.mask }], {
        seriesDescription: `P2SAM ${roiName}`,
      });
      report.outputs.seg = f;
    }
    if (o.formats.includes('nifti')) {
      const f = safeOutputPath(outDir, 'mask.nii.gz', inputs);
      writeNifti(f, result.mask, target);
      report.outputs.nifti = f;
    }
    const sliceDir = path.join(outDir, 'slices');
    mkdirSync(sliceDir, { recursive: true });
    const overlays: string[] = [];
    const maskPngs: string[] = [];
    const w = result.summary.window;
    for (const r of result.slices) {
      if (!r.ran) continue;
      const name = `slice-${String(r.targetSlice).padStart(3, '0')}`;
      const ov = safeOutputPath(outDir, path.join('slices', `${name}.overlay.png`), inputs);
      await writeOverlayPng(
        ov,
        sliceImage(target, r.targetSlice, w),
        maskSlice(result.mask, r.targetSlice),
        r.present ? r.points : [],
      );
      overlays.push(ov);
      if (o.formats.includes('png')) {
        const mp = safeOutputPath(outDir, path.join('slices', `${name}.mask.png`), inputs);
        await writeMaskPng(mp, maskSlice(result.mask, r.targetSlice));
        maskPngs.push(mp);
      }
    }
    report.outputs.overlays = overlays;
    if (maskPngs.length) report.outputs.masks = maskPngs;
    const montage = safeOutputPath(outDir, 'review.png', inputs);
    await writeImagePng(
      montage,
      renderVolumeMontage(reference, refMask, target, result.mask, result.slices, w),
    );
    report.outputs.review = montage;
    if (truth) {
      const m = volumeMetrics(result.mask, truth, target);
      report.metrics = m;
    }
    report.status = 'ok';
    const s = result.summary;
    const line =
      `p2sam: ${label}: ${s.presentSlices} of ${s.targetSlices} slices contoured (${s.ranSlices} tried), ${round(s.volumeMl, 1)} ml, ` +
      `z offset ${round(result.alignment.offsetMm, 1)} mm (${result.alignment.method})` +
      (report.metrics ? `, 3-D Dice ${report.metrics.dice.toFixed(3)}` : '') +
      ` in ${(s.totalMs / 1000).toFixed(1)} s`;
    if (o.json) {
      for (const r of result.slices)
        io.stdout.write(`${JSON.stringify({ type: 'slice', visit: label, ...r })}\n`);
      io.stdout.write(
        `${JSON.stringify({ type: 'visit', visit: label, alignment: result.alignment, summary: s, ...(report.metrics ? { dice: report.metrics.dice, hd95Mm: report.metrics.hd95Mm, meanSurfaceDistanceMm: report.metrics.meanSurfaceDistanceMm, predictedMl: report.metrics.predictedMl, truthMl: report.metrics.truthMl } : {}) })}\n`,
      );
      if (!o.quiet) progress.log(line);
    } else progress.print(io.stdout, line);
  } catch (err) {
    report.status = err instanceof P2SamError && err.code === 'ABORTED' ? 'interrupted' : 'failed';
    report.error = errorRecord(err);
    throw Object.assign(err instanceof Error ? err : new Error(String(err)), { visitReport: report });
  } finally {
    progress.finish();
    writeJsonAtomic(reportPath, { tool: 'p2sam volume', version: packageVersion(), ...report });
  }
  return report;
}

// ---- the command ---------------------------------------------------------------------

export async function runVolume(
  o: VolumeRunOptions,
  visits: VisitInput[],
  batch: boolean,
  io: CliIO,
  signal?: AbortSignal,
): Promise<number> {
  requireFile('--encoder', o.encoder);
  requireFile('--decoder', o.decoder);
  outputDir('--out', o.out);
  visits.forEach((v, i) => {
    checkVisitPaths(v, batch ? `visit ${i + 1}: ` : '');
  });
  mkdirSync(o.out, { recursive: true });
  const progress = ProgressReporter.auto(o.quiet, io.stderr);
  const model = await P2SAM.load({
    encoder: o.encoder,
    decoder: o.decoder,
    ...(o.threads ? { threads: o.threads } : {}),
  });
  const reports: VisitReport[] = [];
  let exitCode = EXIT_OK;
  // Consecutive visits from the same reference (series, structure set, ROI) share its
  // prepared slices: each reference slice is encoded once per patient, not per visit.
  const cache = new ReferenceSliceCache();
  let cacheFor = '';
  try {
    for (const v of visits) {
      const refKey = JSON.stringify([v.refSeries, v.refRtstruct, v.roi]);
      if (refKey !== cacheFor) {
        cache.clear();
        cacheFor = refKey;
      }
      const dir = batch ? path.join(o.out, v.patient!, v.visit!) : o.out;
      if (signal?.aborted) {
        reports.push({ patient: v.patient, visit: v.visit, status: 'not-run', inputs: v, outputs: {} });
        continue;
      }
      try {
        reports.push(await runVisit(model, v, dir, o, io, progress, signal, cache));
      } catch (err) {
        const r = (err as { visitReport?: VisitReport }).visitReport;
        if (r) reports.push(r);
        const code = exitCodeOf(err);
        if (!batch) throw err;
        progress.log(`p2sam: ${v.patient}/${v.visit}: error: ${describeError(err)}`);
        if (code === EXIT_INTERRUPTED) exitCode = EXIT_INTERRUPTED;
        else if (exitCode === EXIT_OK) exitCode = EXIT_FAILURE;
      }
    }
  } finally {
    cache.dispose();
    await model.dispose();
    if (batch) writeBatchSummary(o.out, reports, exitCode);
  }
  if (batch) {
    const ok = reports.filter((r) => r.status === 'ok').length;
    const line = `p2sam: ${ok} of ${visits.length} visits contoured; summary: ${path.join(o.out, 'summary.json')}`;
    if (o.json) io.stderr.write(`${line}\n`);
    else io.stdout.write(`${line}\n`);
  }
  return exitCode;
}

function writeBatchSummary(out: string, reports: VisitReport[], exitCode: number): void {
  const byPatient = new Map<string, VisitReport[]>();
  for (const r of reports) {
    const k = r.patient ?? '';
    if (!byPatient.has(k)) byPatient.set(k, []);
    byPatient.get(k)!.push(r);
  }
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
  const patients = [...byPatient].map(([patient, rs]) => {
    const withMetrics = rs.filter((r) => r.metrics);
    return {
      patient,
      visits: rs.length,
      ok: rs.filter((r) => r.status === 'ok').length,
      meanDice: mean(withMetrics.map((r) => r.metrics!.dice)),
      meanHd95Mm: mean(withMetrics.filter((r) => r.metrics!.hd95Mm !== null).map((r) => r.metrics!.hd95Mm!)),
      predictedMl: rs.map((r) => (r.summary ? r.summary.volumeMl : null)),
      truthMl: rs.map((r) => (r.metrics ? r.metrics.truthMl : null)),
    };
  });
  writeJsonAtomic(path.join(out, 'summary.json'), {
    tool: 'p2sam volume --manifest',
    version: packageVersion(),
    status: exitCode === EXIT_OK ? 'ok' : exitCode === EXIT_INTERRUPTED ? 'interrupted' : 'failed',
    exitCode,
    visits: reports.map((r) => ({
      patient: r.patient,
      visit: r.visit,
      status: r.status,
      ...(r.error ? { error: r.error } : {}),
      ...(r.summary
        ? {
            presentSlices: r.summary.presentSlices,
            volumeMl: r.summary.volumeMl,
            referenceSlicesEncoded: r.summary.referenceSlicesEncoded,
            encoderRuns: r.summary.encoderRuns,
            totalMs: r.summary.totalMs,
          }
        : {}),
      ...(r.alignment ? { zOffsetMm: r.alignment.offsetMm, alignment: r.alignment.method } : {}),
      ...(r.metrics
        ? {
            dice: r.metrics.dice,
            hd95Mm: r.metrics.hd95Mm,
            meanSurfaceDistanceMm: r.metrics.meanSurfaceDistanceMm,
            falsePositiveSlices: r.metrics.falsePositiveSlices.length,
            falseNegativeSlices: r.metrics.falseNegativeSlices.length,
          }
        : {}),
      report: r.patient ? path.join(r.patient, r.visit!, 'report.json') : 'report.json',
    })),
    patients,
  });
}

export function volumeCommand(io: CliIO, setExit: (code: number) => void): Command {
  return new Command('volume')
    .description(
      'contour a new CT visit (DICOM series) from an annotated earlier visit (series + RTSTRUCT); or many visits from --manifest',
    )
    .requiredOption('--encoder <file>', 'SAM image encoder (.onnx)')
    .requiredOption('--decoder <file>', 'SAM mask decoder (.onnx)')
    .requiredOption('-o, --out <dir>', 'output directory (created if missing)')
    .option('--ref-series <dir>', 'reference (annotated) visit: DICOM series folder')
    .option('--ref-rtstruct <file>', 'RT Structure Set of the reference visit')
    .option('--roi <name>', 'ROI of the reference structure set to propagate (name or number)')
    .option('--target-series <dir>', 'new visit: DICOM series folder')
    .option('--truth-rtstruct <file>', 'ground truth of the target visit, for metrics in report.json')
    .option('--truth-roi <name>', 'ROI in --truth-rtstruct (default: --roi)')
    .option(
      '--manifest <file>',
      'CSV or JSON list of visits (patient, ref_series, ref_rtstruct, roi, target_series[, visit, truth_rtstruct, truth_roi])',
    )
    .option(
      '--window <w>',
      'HU window: mediastinum (default), lung, soft-tissue, p2sam or LOW,HIGH',
      parseHuWindow,
      'mediastinum' as HuWindow,
    )
    .option(
      '--format <list>',
      'outputs besides overlays and review.png: rtstruct,seg,nifti,png (default rtstruct)',
      parseFormats,
      ['rtstruct'] as VolumeFormat[],
    )
    .option(
      '--margin-mm <n>',
      "how far beyond the reference ROI's extent target slices are tried (default 10)",
      numberParser(0, 1000),
    )
    .option(
      '--z-offset-mm <n>',
      'target z − reference z of the same anatomy (mm); skips the alignment',
      numberParser(-100000, 100000),
    )
    .option('--output-roi <name>', 'ROI name in the written structure set (default: --roi)')
    .addOption(
      new Option('--mode <mode>', 'negative prompts: background parts (medical) or one point (natural)')
        .choices(['natural', 'medical'])
        .default('medical'),
    )
    .option('--parts <range>', 'candidate part counts, e.g. 1..5 (default 1..5)', parseRange)
    .option(
      '--negatives <range>',
      'background part counts (medical, default 1..1) or 0/1 (natural)',
      parseRange,
    )
    .addOption(
      new Option(
        '--consistency <c>',
        "3-D consistency across slices: keep the parts that touch the neighbouring slices' result (components) or every part (none)",
      )
        .choices(['none', 'components'])
        .default('components'),
    )
    .option('--allow-other-patient', 'accept a target whose PatientID differs from the reference')
    .option(
      '--reference-spacing-mm <n>',
      'use only annotated reference slices at least this far apart (default 0: all)',
      numberParser(0, 1000),
    )
    .option(
      '--pipeline',
      "overlap the next slice's encoder pass with the current decoder cascade (default: only with CUDA models)",
    )
    .option(
      '--threads <n>',
      'threads for ONNX Runtime and the native maths (default: all cores)',
      intParser(1, 1024),
    )
    .option('--seed <n>', 'k-means seed (default 0)', intParser(0, Number.MAX_SAFE_INTEGER))
    .option('--restarts <n>', 'k-means restarts per part count (default 10)', intParser(1, 100))
    .option('--json', 'print one JSON line per slice and per visit on stdout (progress stays on stderr)')
    .option('-q, --quiet', 'no progress on stderr')
    .action(async (flags: Record<string, unknown>) => {
      const single = ['refSeries', 'refRtstruct', 'roi', 'targetSeries'] as const;
      const flagName = (k: string) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
      let visits: VisitInput[];
      const batch = typeof flags.manifest === 'string';
      if (batch) {
        const clash = [...single, 'truthRtstruct'].filter((k) => flags[k] !== undefined);
        if (clash.length)
          throw new UsageError(
            `--manifest lists the visits; do not also give ${clash.map(flagName).join(', ')}`,
          );
        requireFile('--manifest', flags.manifest as string);
        visits = readManifest(flags.manifest as string);
      } else {
        const missing = single.filter((k) => typeof flags[k] !== 'string');
        if (missing.length)
          throw new UsageError(`missing ${missing.map(flagName).join(', ')} (or give --manifest)`);
        visits = [
          {
            refSeries: flags.refSeries as string,
            refRtstruct: flags.refRtstruct as string,
            roi: flags.roi as string,
            targetSeries: flags.targetSeries as string,
            ...(flags.truthRtstruct ? { truthRtstruct: flags.truthRtstruct as string } : {}),
            ...(flags.truthRoi ? { truthRoi: flags.truthRoi as string } : {}),
          },
        ];
      }
      const controller = new AbortController();
      let interrupts = 0;
      const onSigint = () => {
        interrupts++;
        if (interrupts === 1) controller.abort(new P2SamError('ABORTED', 'interrupted by SIGINT'));
        else process.exit(EXIT_INTERRUPTED);
      };
      process.on('SIGINT', onSigint);
      try {
        const code = await runVolume(
          {
            encoder: flags.encoder as string,
            decoder: flags.decoder as string,
            out: flags.out as string,
            window: flags.window as HuWindow,
            formats: flags.format as VolumeFormat[],
            marginMm: flags.marginMm as number | undefined,
            zOffsetMm: flags.zOffsetMm as number | undefined,
            outputRoi: flags.outputRoi as string | undefined,
            mode: flags.mode as opt.Mode,
            parts: flags.parts as { min: number; max: number } | undefined,
            negatives: flags.negatives as { min: number; max: number } | undefined,
            threads: flags.threads as number | undefined,
            seed: flags.seed as number | undefined,
            restarts: flags.restarts as number | undefined,
            consistency: flags.consistency as 'none' | 'components',
            allowOtherPatient: flags.allowOtherPatient === true,
            ...(flags.pipeline === true ? { pipeline: true } : {}),
            referenceSpacingMm: flags.referenceSpacingMm as number | undefined,
            json: flags.json === true,
            quiet: flags.quiet === true,
          },
          visits,
          batch,
          io,
          controller.signal,
        );
        setExit(code);
      } finally {
        process.off('SIGINT', onSigint);
      }
    });
}
