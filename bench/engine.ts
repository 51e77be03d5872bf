/**
 * Engine-level sections: the testkit model on generated scenes (1024×768), our engine
 * against a naive per-target mode, stage breakdowns, memory over a long sequence, the
 * reference-coverage sweep, ORT memory settings and a user's own exports.
 *
 * "Naive" is what the authors' code does for every target: encode the reference image
 * again and re-run its k-means (createReference), then segment. Ours builds the
 * reference once and reuses it.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Embedding, P2SAM, type SegmentResult } from '../lib';
import { writeTestkitModel, type TestkitDecoderVariant, type TestkitEncoderVariant } from '../lib/testkit';
import { makeScene, sequence, type Scene } from '../lib/testkit/scenes';
import { measureDecoderVariant, type DecoderVariantResult } from './decoder';
import { gc, peakRssMiB, round, rssMiB, slope, summary, type Summary } from './util';

export const WIDTH = 1024;
export const HEIGHT = 768;
const SEED = 7;

/**
 * A testkit model configuration: encoder and decoder variant, and whether the engine runs
 * its cascade on the decoder with the full-resolution `masks` branch pruned (the
 * engine's default, `pruneDecoder: true`) or on the decoder as shipped.
 */
export interface ModelChoice {
  encoder: TestkitEncoderVariant;
  decoder: TestkitDecoderVariant;
  pruneDecoder: boolean;
}

/** e.g. "basic/sam-sized, pruned". */
export function modelLabel(m: ModelChoice): string {
  return `${m.encoder}/${m.decoder}, ${m.pruneDecoder ? 'pruned' : 'shipped'}`;
}

const quietWarn = () => undefined;

export async function loadTestkit(
  m: ModelChoice,
  threads: number,
  extra: Record<string, unknown> = {},
): Promise<P2SAM> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'p2sam-bench-'));
  const paths = await writeTestkitModel(dir, { encoder: m.encoder, decoder: m.decoder });
  const model = await P2SAM.load({
    encoder: paths.encoder,
    decoder: paths.decoder,
    threads,
    pruneDecoder: m.pruneDecoder,
    onWarning: quietWarn,
    ...extra,
  });
  // The report says which decoder the cascade really ran on; a silent fallback to the
  // full decoder would make the shipped/pruned comparison meaningless.
  const cascade = (model.info.decoder as { cascade?: string }).cascade;
  if (m.pruneDecoder && cascade !== 'pruned')
    throw new Error(
      `bench: asked for a pruned decoder, the engine reports cascade ${JSON.stringify(cascade)}`,
    );
  return model;
}

function referenceScene(coverage = 0.1, seed = SEED): Scene {
  return makeScene({ width: WIDTH, height: HEIGHT, seed, coverage, center: [0.45, 0.5] });
}

interface StageRow {
  encodeMs: number;
  pointsMs: number;
  pass1Ms: number;
  pass2Ms: number;
  pass3Ms: number;
  retrievalMs: number;
  candidatesMs: number;
  nonModelMs: number;
  totalMs: number;
}

function stages(r: SegmentResult): StageRow {
  const t = r.timings;
  return {
    encodeMs: t.encodeMs,
    pointsMs: t.pointsMs,
    pass1Ms: t.decoderMs[0],
    pass2Ms: t.decoderMs[1],
    pass3Ms: t.decoderMs[2],
    retrievalMs: t.retrievalMs,
    candidatesMs: t.candidatesMs,
    // Everything but the encoder and decoder model runs: the similarity/point chain for
    // all candidates plus every candidate's Wasserstein scoring.
    nonModelMs: t.pointsMs + t.retrievalMs,
    totalMs: t.totalMs,
  };
}

function summarise(rows: StageRow[]): Record<keyof StageRow, Summary> {
  const keys = Object.keys(rows[0] ?? {}) as (keyof StageRow)[];
  return Object.fromEntries(keys.map((k) => [k, summary(rows.map((r) => r[k]))])) as Record<
    keyof StageRow,
    Summary
  >;
}

function problemSizes(
  referenceCells: number,
  results: SegmentResult[],
): { n: number; m: Summary; largest: [number, number] } {
  const ms = results.flatMap((r) => r.candidates.filter((c) => c.score !== null).map((c) => c.targetCells));
  return { n: referenceCells, m: summary(ms), largest: [referenceCells, ms.length ? Math.max(...ms) : 0] };
}

export interface SequenceResult {
  model: ModelChoice;
  label: string;
  targets: number;
  imageSize: [number, number];
  referenceCells: number;
  referenceMs: { encodeMs: number; featuresMs: number; prototypesMs: number; totalMs: number };
  ours: { wallMs: number; targetsPerSecond: number; perTarget: Record<keyof StageRow, Summary> };
  naive: { wallMs: number; targetsPerSecond: number; createReferenceMs: Summary } | null;
  ratioNaiveOverOurs: number | null;
  /**
   * The ratio's ceiling 1 + createReference / segment (medians): naive does a whole
   * reference per target, so ours can save at most that.
   */
  ratioBound: number | null;
  /** Median encode time over the median pass-1 time of one candidate (one plain decoder run). */
  encoderOverDecoderPass: number;
  parallelCandidates2: { wallMs: number; targetsPerSecond: number; candidatesMs: Summary } | null;
  wasserstein: { n: number; m: Summary; largest: [number, number] };
  peakRssMiB: number;
}

/** Sequence throughput over `targets` frames: ours, naive and (optionally) 2 concurrent candidates. */
export async function sequenceSection(a: {
  targets: number;
  threads: number;
  model: ModelChoice;
  naive: boolean;
  parallel: boolean;
  width?: number;
  height?: number;
}): Promise<SequenceResult> {
  const model = await loadTestkit(a.model, a.threads);
  const width = a.width ?? WIDTH;
  const height = a.height ?? HEIGHT;
  const refScene = makeScene({ width, height, seed: SEED, coverage: 0.1, center: [0.45, 0.5] });
  const frames = sequence(a.targets, { width, height, seed: SEED });
  // Warm-up: first runs pay for ORT's lazy allocations and page faults.
  {
    const r = await model.createReference({ image: refScene.image, mask: refScene.mask });
    await model.segment(frames[0]!.image, { reference: r });
    r.dispose?.();
  }

  // The modes are interleaved target by target, so a change in machine load during the
  // run hits all of them alike; each mode's wall time is the sum of its own steps.
  const t0 = performance.now();
  const ref = await model.createReference({ image: refScene.image, mask: refScene.mask });
  let oursMs = performance.now() - t0;
  const refP = a.parallel
    ? await model.createReference({ image: refScene.image, mask: refScene.mask })
    : undefined;
  let parallelMs = a.parallel ? performance.now() - t0 - oursMs : 0;
  let naiveMs = 0;
  const refMs: number[] = [];
  const cand: number[] = [];
  const results: SegmentResult[] = [];
  for (const f of frames) {
    let t = performance.now();
    results.push(await model.segment(f.image, { reference: ref }));
    oursMs += performance.now() - t;
    if (a.naive) {
      t = performance.now();
      const r = await model.createReference({ image: refScene.image, mask: refScene.mask });
      refMs.push(performance.now() - t);
      await model.segment(f.image, { reference: r });
      naiveMs += performance.now() - t;
      r.dispose();
    }
    if (refP) {
      t = performance.now();
      cand.push(
        (await model.segment(f.image, { reference: refP, parallelCandidates: 2 })).timings.candidatesMs,
      );
      parallelMs += performance.now() - t;
    }
  }
  const naive: SequenceResult['naive'] = a.naive
    ? {
        wallMs: round(naiveMs),
        targetsPerSecond: round((1000 * frames.length) / naiveMs, 3),
        createReferenceMs: summary(refMs),
      }
    : null;
  const parallel: SequenceResult['parallelCandidates2'] = refP
    ? {
        wallMs: round(parallelMs),
        targetsPerSecond: round((1000 * frames.length) / parallelMs, 3),
        candidatesMs: summary(cand),
      }
    : null;
  const s = ref.summary();
  const perTarget = summarise(results.map(stages));
  const candidates = results[0]?.candidates.length ?? 1;
  const out: SequenceResult = {
    model: a.model,
    label: modelLabel(a.model),
    targets: frames.length,
    imageSize: [width, height],
    referenceCells: s.foregroundCells,
    referenceMs: Object.fromEntries(
      Object.entries(ref.timings).map(([k, v]) => [k, round(v as number)]),
    ) as SequenceResult['referenceMs'],
    ours: { wallMs: round(oursMs), targetsPerSecond: round((1000 * frames.length) / oursMs, 3), perTarget },
    naive,
    ratioNaiveOverOurs: naive ? round(naive.wallMs / oursMs, 3) : null,
    ratioBound: naive ? round(1 + naive.createReferenceMs.median / perTarget.totalMs.median, 3) : null,
    encoderOverDecoderPass: round(perTarget.encodeMs.median / (perTarget.pass1Ms.median / candidates), 1),
    parallelCandidates2: parallel,
    wasserstein: problemSizes(s.foregroundCells, results),
    peakRssMiB: peakRssMiB(),
  };
  await model.dispose();
  return out;
}

export interface MemoryResult {
  targets: number;
  model: ModelChoice;
  rssMiB: { afterWarmup: number; atHalf: number; atEnd: number };
  /** Least-squares RSS growth over the second half of the run, KiB per target. */
  growthKiBPerTarget: number;
  peakRssMiB: number;
}

/** RSS over a long sequence (frames cycled), sampled after a GC every few targets. */
export async function memorySection(a: {
  targets: number;
  threads: number;
  model: ModelChoice;
}): Promise<MemoryResult> {
  const model = await loadTestkit(a.model, a.threads);
  const refScene = referenceScene();
  const frames = sequence(30, { width: WIDTH, height: HEIGHT, seed: SEED });
  const ref = await model.createReference({ image: refScene.image, mask: refScene.mask });
  const samples: number[] = [];
  const every = 5;
  let afterWarmup = 0;
  for (let i = 0; i < a.targets; i++) {
    await model.segment(frames[i % frames.length]!.image, { reference: ref });
    if (i % every === every - 1) {
      gc();
      samples.push(rssMiB());
      if (afterWarmup === 0 && i >= 19) afterWarmup = rssMiB();
    }
  }
  const half = samples.slice(Math.floor(samples.length / 2));
  const out: MemoryResult = {
    targets: a.targets,
    model: a.model,
    rssMiB: { afterWarmup, atHalf: half[0] ?? 0, atEnd: samples[samples.length - 1] ?? 0 },
    growthKiBPerTarget: round((slope(half) * 1024) / every, 1),
    peakRssMiB: peakRssMiB(),
  };
  await model.dispose();
  return out;
}

export interface CoverageRow {
  coverage: number;
  referenceCells: number;
  targets: number;
  /** Medians per target; nonModel = similarity/points for all candidates + retrieval. */
  exact: { pointsMs: number; retrievalMs: number; nonModelMs: Summary };
  sinkhorn: { retrievalMs: number; nonModelMs: Summary; converged: boolean };
  wasserstein: { n: number; m: Summary; largest: [number, number] };
}

/**
 * Reference masks covering 2 %..40 % of the image; per target, the non-model time with
 * the exact solver and with Sinkhorn (same embedding, parts 1..5).
 */
export async function coverageSection(a: {
  coverages: number[];
  targetsPer: number;
  threads: number;
  model: ModelChoice;
}): Promise<CoverageRow[]> {
  const model = await loadTestkit(a.model, a.threads);
  const rows: CoverageRow[] = [];
  {
    const s = referenceScene(0.1);
    const r = await model.createReference({ image: s.image, mask: s.mask });
    await model.segment(s.image, { reference: r });
  }
  for (const c of a.coverages) {
    const refScene = referenceScene(c, SEED + 1);
    const ref = await model.createReference({ image: refScene.image, mask: refScene.mask });
    const exact: SegmentResult[] = [];
    const sink: SegmentResult[] = [];
    for (let i = 0; i < a.targetsPer; i++) {
      const t = makeScene({
        width: WIDTH,
        height: HEIGHT,
        seed: SEED + 1,
        noiseSeed: 100 + i,
        coverage: c,
        center: [0.5 + 0.03 * i, 0.5 - 0.02 * i],
      });
      const emb: Embedding = await model.encode(t.image);
      exact.push(await model.segment(emb, { reference: ref }));
      sink.push(await model.segment(emb, { reference: ref, retrieval: { solver: 'sinkhorn' } }));
      emb.dispose();
    }
    const n = ref.summary().foregroundCells;
    rows.push({
      coverage: round(refScene.info.coverage, 3),
      referenceCells: n,
      targets: a.targetsPer,
      exact: {
        pointsMs: summary(exact.map((r) => r.timings.pointsMs)).median,
        retrievalMs: summary(exact.map((r) => r.timings.retrievalMs)).median,
        nonModelMs: summary(exact.map((r) => r.timings.pointsMs + r.timings.retrievalMs)),
      },
      sinkhorn: {
        retrievalMs: summary(sink.map((r) => r.timings.retrievalMs)).median,
        nonModelMs: summary(sink.map((r) => r.timings.pointsMs + r.timings.retrievalMs)),
        converged: sink.every((r) => r.candidates.every((x) => x.score === null || x.converged)),
      },
      wasserstein: problemSizes(n, exact),
    });
    ref.dispose?.();
  }
  await model.dispose();
  return rows;
}

export interface OrtMemoryResult {
  memoryPattern: boolean;
  cpuArena: boolean;
  encoder: string;
  imageSize: [number, number];
  encodeMs: Summary;
  rssAfterLoadMiB: number;
  peakRssMiB: number;
}

/** One ORT memory configuration, alone in its process: load, encode a 1024×768 image `reps` times. */
export async function ortMemorySection(a: {
  memoryPattern: boolean;
  cpuArena: boolean;
  threads: number;
  reps: number;
  encoder?: string;
  decoder?: string;
  testkitEncoder?: TestkitEncoderVariant;
}): Promise<OrtMemoryResult> {
  let model: P2SAM;
  if (a.encoder && a.decoder) {
    model = await P2SAM.load({
      encoder: a.encoder,
      decoder: a.decoder,
      threads: a.threads,
      memoryPattern: a.memoryPattern,
      cpuArena: a.cpuArena,
      onWarning: quietWarn,
    });
  } else {
    model = await loadTestkit(
      { encoder: a.testkitEncoder ?? 'basic', decoder: 'basic', pruneDecoder: true },
      a.threads,
      { memoryPattern: a.memoryPattern, cpuArena: a.cpuArena },
    );
  }
  const rssAfterLoad = rssMiB();
  const img = referenceScene().image;
  const times: number[] = [];
  for (let i = 0; i <= a.reps; i++) {
    const t = performance.now();
    const e = await model.encode(img);
    if (i > 0) times.push(performance.now() - t);
    e.dispose();
  }
  const out: OrtMemoryResult = {
    memoryPattern: a.memoryPattern,
    cpuArena: a.cpuArena,
    encoder: a.encoder ?? `testkit ${a.testkitEncoder ?? 'basic'}`,
    imageSize: [WIDTH, HEIGHT],
    encodeMs: summary(times),
    rssAfterLoadMiB: rssAfterLoad,
    peakRssMiB: peakRssMiB(),
  };
  await model.dispose();
  return out;
}

export interface DecoderSectionResult {
  raw: DecoderVariantResult[];
  /** Per-pass engine times (ms, median over targets, summed over the 5 candidates) with the shipped vs the pruned decoder. */
  engine: {
    decoder: string;
    pruneDecoder: boolean;
    pass1Ms: number;
    pass2Ms: number;
    pass3Ms: number;
    candidatesMs: number;
    totalMs: number;
  }[];
}

export async function decoderSection(a: {
  threads: number;
  reps: number;
  targets: number;
}): Promise<DecoderSectionResult> {
  const raw = [
    await measureDecoderVariant('sam-sized', a.threads, a.reps),
    await measureDecoderVariant('basic', a.threads, a.reps),
  ];
  const engine: DecoderSectionResult['engine'] = [];
  const frames = sequence(a.targets, { width: WIDTH, height: HEIGHT, seed: SEED });
  const refScene = referenceScene();
  const variants: ModelChoice[] = [
    { encoder: 'basic', decoder: 'sam-sized', pruneDecoder: false },
    { encoder: 'basic', decoder: 'sam-sized', pruneDecoder: true },
  ];
  const models: {
    d: ModelChoice;
    model: P2SAM;
    ref: Awaited<ReturnType<P2SAM['createReference']>>;
    rows: StageRow[];
  }[] = [];
  for (const d of variants) {
    const model = await loadTestkit(d, a.threads);
    models.push({
      d,
      model,
      ref: await model.createReference({ image: refScene.image, mask: refScene.mask }),
      rows: [] as StageRow[],
    });
  }
  // Both decoders see the same embeddings (the encoder is identical), alternating per target.
  const embs = [];
  for (const f of frames) embs.push(await models[0]!.model.encode(f.image));
  const shared = embs.map((e) => ({
    data: e.toFloat32Array(),
    meta: { origWidth: e.width, origHeight: e.height, inputWidth: e.inputWidth, inputHeight: e.inputHeight },
  }));
  for (const e of embs) e.dispose();
  const segmentCopy = async (m: (typeof models)[number], e: (typeof shared)[number]) => {
    const emb = Embedding.fromData(e.data, e.meta);
    try {
      return await m.model.segment(emb, { reference: m.ref });
    } finally {
      emb.dispose();
    }
  };
  for (const m of models) await segmentCopy(m, shared[0]!);
  for (const e of shared) for (const m of models) m.rows.push(stages(await segmentCopy(m, e)));
  for (const m of models) {
    const s = summarise(m.rows);
    engine.push({
      decoder: m.d.decoder,
      pruneDecoder: m.d.pruneDecoder,
      pass1Ms: s.pass1Ms.median,
      pass2Ms: s.pass2Ms.median,
      pass3Ms: s.pass3Ms.median,
      candidatesMs: s.candidatesMs.median,
      totalMs: s.totalMs.median,
    });
    await m.model.dispose();
  }
  return { raw, engine };
}

export interface UserModelResult {
  encoder: string;
  decoder: string;
  loadMs: number;
  info: { encoderKind: string; decoderKind: string; maskOutputs?: number };
  reference: { cells: number; encodeMs: number; prototypesMs: number; totalMs: number };
  perTarget: Record<keyof StageRow, Summary>;
  wasserstein: { n: number; m: Summary; largest: [number, number] };
  decoderPruning: DecoderVariantResult | { skipped: string };
  peakRssMiB: number;
}

/** The same breakdown for a user's exports (P2SAM_BENCH_ENCODER / P2SAM_BENCH_DECODER). */
export async function userModelSection(a: {
  encoder: string;
  decoder: string;
  threads: number;
  targets: number;
  reps: number;
}): Promise<UserModelResult> {
  const t0 = performance.now();
  const model = await P2SAM.load({
    encoder: a.encoder,
    decoder: a.decoder,
    threads: a.threads,
    onWarning: quietWarn,
  });
  const loadMs = performance.now() - t0;
  const refScene = referenceScene();
  const frames = sequence(a.targets, { width: WIDTH, height: HEIGHT, seed: SEED });
  const ref = await model.createReference({ image: refScene.image, mask: refScene.mask });
  const results: SegmentResult[] = [];
  for (const f of frames) results.push(await model.segment(f.image, { reference: ref }));
  const n = ref.summary().foregroundCells;
  const peak = peakRssMiB();
  const info = {
    encoderKind: model.info.encoder.kind,
    decoderKind: model.info.decoder.kind,
    maskOutputs: model.info.decoder.maskOutputs,
  };
  await model.dispose();
  let decoderPruning: UserModelResult['decoderPruning'];
  try {
    decoderPruning = await measureDecoderVariant(
      'basic',
      a.threads,
      a.reps,
      [HEIGHT, WIDTH],
      new Uint8Array(readFileSync(a.decoder)),
      path.basename(a.decoder),
    );
  } catch (e) {
    decoderPruning = { skipped: (e as Error).message };
  }
  return {
    encoder: a.encoder,
    decoder: a.decoder,
    loadMs: round(loadMs),
    info,
    reference: {
      cells: n,
      encodeMs: round(ref.timings.encodeMs),
      prototypesMs: round(ref.timings.prototypesMs),
      totalMs: round(ref.timings.totalMs),
    },
    perTarget: summarise(results.map(stages)),
    wasserstein: problemSizes(n, results),
    decoderPruning,
    peakRssMiB: peak,
  };
}
