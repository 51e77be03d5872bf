/**
 * The volume benchmark (`npm run bench -- --only volume`): a follow-up CT visit of
 * 512² slices contoured from an annotated planning visit (phantom-study.ts), with the
 * SAM-sized testkit pair (encoder ≈ 100 decoder passes, like ViT-B; docs/testkit.md).
 *
 * Each run is its own child process (so its memory is its own):
 *  - ours: segmentVolume as a CPU user gets it — each used reference slice encoded once,
 *    each target slice once, one after the other;
 *  - ours pipelined (next encoder pass overlapping the current decoder cascade);
 *  - ours with referenceSpacingMm 10 (reference slices ≥ 10 mm apart);
 *  - naive: the same pairing, crop and slices, but per target slice createReference on
 *    the reference slice's image (one more encoder pass) and segment, as the authors'
 *    code does it for every target;
 *  - ours at 20 and 80 target slices over the same anatomy (slice spacing 5 and 1.25 mm),
 *    on the basic pair, for memory: RSS is sampled every 20 ms while the visit runs, and the working memory
 *    is the peak minus the RSS before the call (the input volumes are the caller's).
 *
 * Reported: wall per visit and per slice, slices/s, encoder passes, encoder share
 * (summed encoder time / wall), peak RSS, working memory, naive/ours.
 */
import os from 'node:os';
import { alignVolumes } from '../lib/volume/align';
import type { MaskVolume } from '../lib/clinical/volume';
import { estimateInPlaneShift, roiCrops } from '../lib/volume/crop';
import { volumeMetrics } from '../lib/volume/metrics3d';
import { pairSlices } from '../lib/volume/pairing';
import { phantomStudy } from '../lib/volume/phantom-study';
import { segmentVolume, DEFAULT_VOLUME_WINDOW } from '../lib/volume/segment-volume';
import { cropMask, maskSlice, sliceImage } from '../lib/volume/slice-image';
import { loadTestkit, type ModelChoice } from './engine';
import { gc, peakRssMiB, round, rssMiB, runChild, table } from './util';

export interface VolumeRun {
  mode: 'ours' | 'ours-pipelined' | 'ours-ref-spacing-10mm' | 'naive';
  model: ModelChoice;
  targetSlices: number;
  targetSliceMm: number;
  ranSlices: number;
  referenceSlicesEncoded: number;
  encoderRuns: number;
  wallMs: number;
  /** CPU time of the process during the visit (all threads): the work done, whatever the machine's load. */
  cpuMs: number;
  msPerSlice: number;
  slicesPerSecond: number;
  encoderMs: number;
  encoderShare: number;
  rssBeforeMiB: number;
  peakDuringMiB: number;
  workingMiB: number;
  peakRssMiB: number;
  dice: number;
}

export interface VolumeBenchResult {
  uptime: string;
  loadAverage: { start: number[]; end: number[] };
  runs: VolumeRun[];
  naiveOverOurs: number | null;
  /** The same ratio in CPU time (robust to the load of a shared machine). */
  naiveOverOursCpu: number | null;
  workingMiBAt: Record<string, number>;
}

/** Child: one visit, one mode. */
export async function volumeSection(a: {
  mode: VolumeRun['mode'];
  targetSlices: number;
  threads: number;
  model: ModelChoice;
}): Promise<VolumeRun> {
  const sliceMm = 100 / a.targetSlices;
  const study = phantomStudy({ size: 512, seed: 1, targetSlices: a.targetSlices, targetSliceMm: sliceMm });
  const model = await loadTestkit(a.model, a.threads);
  const target = study.target.volume;
  const reference = { volume: study.reference.volume, mask: study.reference.truth };
  gc();
  const rssBefore = rssMiB();
  let peak = rssBefore;
  const sampler = setInterval(() => {
    peak = Math.max(peak, rssMiB());
  }, 20);
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let ran = 0;
  let refs = 0;
  let encoderMs = 0;
  let encoderRuns = 0;
  let mask: MaskVolume;
  const statsBefore = model.stats().encoderRuns;
  if (a.mode !== 'naive') {
    const r = await segmentVolume(model, target, reference, {
      pipeline: a.mode === 'ours-pipelined',
      referenceSpacingMm: a.mode === 'ours-ref-spacing-10mm' ? 10 : 0,
    });
    ran = r.summary.ranSlices;
    refs = r.summary.referenceSlicesEncoded;
    encoderMs = r.summary.encoderMs;
    encoderRuns = r.summary.encoderRuns;
    mask = r.mask;
  } else {
    // The same pairing and crop as segmentVolume, but a fresh reference per target slice.
    const window = DEFAULT_VOLUME_WINDOW;
    const al = alignVolumes(reference.volume, target);
    const pairing = pairSlices(reference.volume, reference.mask, target, al, { marginMm: 10 });
    const crops = roiCrops(
      reference.volume,
      reference.mask,
      target,
      estimateInPlaneShift(reference.volume, target, al.offsetMm),
      40,
    )!;
    const plane = target.columns * target.rows;
    mask = {
      columns: target.columns,
      rows: target.rows,
      slices: target.slices,
      data: new Uint8Array(plane * target.slices),
    };
    for (const p of pairing.pairs) {
      if (p.zone === 'outside') continue;
      const k = p.referenceCandidates[0]!;
      const ref = await model.createReference(
        {
          image: sliceImage(reference.volume, k, window, crops.reference),
          mask: cropMask(maskSlice(reference.mask, k), crops.reference),
        },
        { mode: 'medical' },
      );
      const seg = await model.segment(sliceImage(target, p.targetSlice, window, crops.target), {
        reference: ref,
      });
      encoderMs += ref.timings.encodeMs + seg.timings.encodeMs;
      ref.dispose();
      ran++;
      const c = crops.target;
      for (let y = 0; y < c.height; y++)
        for (let x = 0; x < c.width; x++)
          mask.data[p.targetSlice * plane + (c.y + y) * target.columns + c.x + x] =
            seg.mask[y * c.width + x]!;
    }
    refs = ran;
    encoderRuns = model.stats().encoderRuns - statsBefore;
  }
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  clearInterval(sampler);
  peak = Math.max(peak, rssMiB());
  const dice = volumeMetrics(mask, study.target.truth, target).dice;
  await model.dispose();
  return {
    mode: a.mode,
    model: a.model,
    targetSlices: a.targetSlices,
    targetSliceMm: round(sliceMm, 3),
    ranSlices: ran,
    referenceSlicesEncoded: refs,
    encoderRuns,
    wallMs: round(wallMs, 0),
    cpuMs: round((cpu.user + cpu.system) / 1000, 0),
    msPerSlice: round(wallMs / Math.max(1, ran), 1),
    slicesPerSecond: round(ran / (wallMs / 1000), 3),
    encoderMs: round(encoderMs, 0),
    encoderShare: round(encoderMs / wallMs, 3),
    rssBeforeMiB: rssBefore,
    peakDuringMiB: round(peak, 1),
    workingMiB: round(peak - rssBefore, 1),
    peakRssMiB: peakRssMiB(),
    dice: round(dice, 4),
  };
}

function uptime(): string {
  try {
    return require('node:child_process').execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    return `load ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`;
  }
}

/** Parent: every run above in its own process, the table, and the numbers for the targets. */
export function runVolumeBench(
  threads: number,
  quick: boolean,
  step: (name: string) => void,
): VolumeBenchResult {
  const model: ModelChoice = quick
    ? { encoder: 'basic', decoder: 'basic', pruneDecoder: true }
    : { encoder: 'sam-sized', decoder: 'sam-sized', pruneDecoder: true };
  const start = os.loadavg().map((x) => round(x));
  const up = uptime();
  console.log(`volume bench: ${up}`);
  const runs: VolumeRun[] = [];
  // The memory pair runs on the basic pair: what it measures (embeddings streamed, not
  // held) does not depend on the encoder's cost, and the SAM-sized encoder would make the
  // 80-slice visit alone take several minutes on a shared 2-core machine.
  const basic: ModelChoice = { encoder: 'basic', decoder: 'basic', pruneDecoder: true };
  // The pipelined run is on the basic pair too: on a CPU-only machine it only shows
  // whether overlapping two ONNX Runtime sessions on the same cores pays (it did not).
  const plan: [VolumeRun['mode'], number, ModelChoice][] = [
    ['ours', 40, model],
    ['naive', 40, model],
    ['ours-ref-spacing-10mm', 40, model],
    ['ours', 40, basic],
    ['ours-pipelined', 40, basic],
    ['ours', 20, basic],
    ['ours', 80, basic],
  ];
  for (const [mode, n, m] of plan) {
    if (quick && m !== basic && mode !== 'ours' && mode !== 'naive') continue;
    step(`volume: ${mode}, ${n} target slices of 512², ${m.encoder}/${m.decoder}`);
    runs.push(runChild<VolumeRun>('volume', { mode, targetSlices: n, threads, model: m }, 2_400_000));
  }
  table(
    `Volume: follow-up visit from the planning visit (512², ${model.encoder}/${model.decoder} pair; wall and RSS per visit)`,
    [
      'mode',
      'pair',
      'slices',
      'ran',
      'ref enc',
      'enc runs',
      'wall s',
      'CPU s',
      'ms/slice',
      'slices/s',
      'enc share',
      'working MiB',
      'peak MiB',
      'Dice',
    ],
    runs.map((r) => [
      r.mode,
      `${r.model.encoder}/${r.model.decoder}`,
      r.targetSlices,
      r.ranSlices,
      r.referenceSlicesEncoded,
      r.encoderRuns,
      round(r.wallMs / 1000, 1),
      round(r.cpuMs / 1000, 1),
      r.msPerSlice,
      r.slicesPerSecond,
      r.encoderShare,
      r.workingMiB,
      r.peakRssMiB,
      r.dice,
    ]),
  );
  const ours40 = runs.find((r) => r.mode === 'ours' && r.targetSlices === 40)!;
  // Working memory by slice count, from the runs on one pair (the basic memory pair).
  const naive40 = runs.find((r) => r.mode === 'naive')!;
  const workingMiBAt = Object.fromEntries(
    runs
      .filter((r) => r.mode === 'ours' && r.model.encoder === 'basic' && r.targetSlices !== 40)
      .map((r) => [String(r.targetSlices), r.workingMiB]),
  );
  return {
    uptime: up,
    loadAverage: { start, end: os.loadavg().map((x) => round(x)) },
    runs,
    naiveOverOurs: ours40 && naive40 ? round(naive40.wallMs / ours40.wallMs, 3) : null,
    naiveOverOursCpu: ours40 && naive40 ? round(naive40.cpuMs / ours40.cpuMs, 3) : null,
    workingMiBAt,
  };
}
