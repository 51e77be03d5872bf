/**
 * Sinkhorn on real (testkit) features: why it does not converge with its defaults, and
 * which settings make it converge *and* rank candidates like the exact solver.
 *
 * Part A (problems): reference = `createReference(...).foreground` at 2..40 % coverage;
 * targets = the target embedding's cells under five masks of a moved copy of the object
 * (the object, one part, two parts, the object dilated by two cells, every cell it
 * touches). Per problem: the exact cost, the cost-matrix scale (mean, and the
 * target-to-nearest-reference distance), then Sinkhorn at each setting of the grid:
 * iterations, converged, marginal error, relative cost error, time.
 *
 * Part B (ranking): the engine's own candidates (parts 1..5) on the coverage scenes,
 * scored once with the exact solver and once per Sinkhorn epsilon: same chosen candidate?
 * same order of all scores (Kendall's tau)? all converged? retrieval time.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { core, type Embedding, P2SAM, type SegmentResult } from '../lib';
import { writeTestkitModel } from '../lib/testkit';
import { makeScene, type Scene } from '../lib/testkit/scenes';
import { round, summary, type Summary } from './util';

const W = 1024;
const H = 768;
const GRID = 64;
const CH = 256;

export interface SinkhornSetting {
  epsilon: number;
  tolerance?: number;
  maxIterations?: number;
}

/** Cells (row-major on the 64² grid) whose 16×16 block is at least `frac` inside `mask`. */
function cellsOf(mask: { data: Uint8Array; width: number; height: number }, frac: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < GRID; i++)
    for (let j = 0; j < GRID; j++) {
      let inside = 0;
      for (let y = 16 * i; y < Math.min(16 * i + 16, mask.height); y++)
        for (let x = 16 * j; x < Math.min(16 * j + 16, mask.width); x++)
          inside += mask.data[y * mask.width + x] ? 1 : 0;
      if (inside > 0 && inside >= frac * 256) out.push(i * GRID + j);
    }
  return out;
}

function dilate(cells: number[], r: number, rows: number): number[] {
  const out = new Set(cells);
  for (const c of cells) {
    const i = Math.floor(c / GRID);
    const j = c % GRID;
    for (let di = -r; di <= r; di++)
      for (let dj = -r; dj <= r; dj++) {
        const a = i + di;
        const b = j + dj;
        if (a >= 0 && a < rows && b >= 0 && b < GRID) out.add(a * GRID + b);
      }
  }
  return [...out].sort((x, y) => x - y);
}

/** Rows [cells.length × 256] from the channel-major [256][4096] embedding. */
function gather(emb: Float32Array, cells: number[]): Float32Array {
  const out = new Float32Array(cells.length * CH);
  cells.forEach((c, r) => {
    for (let ch = 0; ch < CH; ch++) out[r * CH + ch] = emb[ch * GRID * GRID + c]!;
  });
  return out;
}

/** Mean squared distance over all pairs (= eps / epsilon) and, per target point, the distance to its nearest reference point. */
function costScale(
  a: Float32Array,
  n: number,
  b: Float32Array,
  m: number,
): { mean: number; nearest: Summary } {
  let total = 0;
  const nearest = new Array<number>(m).fill(Infinity);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < m; j++) {
      let d = 0;
      for (let k = 0; k < CH; k++) {
        const t = a[i * CH + k]! - b[j * CH + k]!;
        d += t * t;
      }
      total += d;
      if (d < nearest[j]!) nearest[j] = d;
    }
  return { mean: total / (n * m), nearest: summary(nearest) };
}

export interface SinkhornRun {
  setting: SinkhornSetting;
  iterations: number;
  converged: boolean;
  marginalError: number;
  /** (sinkhorn − exact) / exact. */
  relativeCostError: number;
  ms: number;
}

export interface SinkhornProblem {
  coverage: number;
  target: string;
  n: number;
  m: number;
  exact: { cost: number; pivots: number; ms: number };
  /** Mean of C over all pairs, and exact cost / mean C (how far below the matrix's scale the optimum lies). */
  meanCost: number;
  exactOverMeanCost: number;
  /** Squared distance of each target point to its nearest reference point. */
  nearestCost: Summary;
  sinkhorn: SinkhornRun[];
}

export interface SinkhornRanking {
  epsilon: number;
  coverage: number;
  targets: number;
  /** Targets whose chosen candidate (parts, negatives) equals the exact solver's. */
  sameChoice: number;
  /** Kendall's tau between the exact and Sinkhorn scores of the scored candidates, median over targets. */
  kendallTau: number;
  /** Scored candidates whose Sinkhorn run converged / all scored candidates. */
  converged: [number, number];
  retrievalMs: number;
  exactRetrievalMs: number;
}

export interface SinkhornResult {
  settings: SinkhornSetting[];
  problems: SinkhornProblem[];
  ranking: SinkhornRanking[];
}

function kendall(x: number[], y: number[]): number {
  let s = 0;
  let pairs = 0;
  for (let i = 0; i < x.length; i++)
    for (let j = i + 1; j < x.length; j++) {
      pairs++;
      s += Math.sign(x[i]! - x[j]!) * Math.sign(y[i]! - y[j]!);
    }
  return pairs ? s / pairs : 1;
}

function scene(coverage: number, noiseSeed: number, center: [number, number]): Scene {
  return makeScene({ width: W, height: H, seed: 8, noiseSeed, coverage, center });
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const r = await fn();
  return [r, performance.now() - t];
}

export async function sinkhornSection(a: {
  coverages: number[];
  settings: SinkhornSetting[];
  rankingEpsilons: number[];
  rankingTargets: number;
  threads: number;
}): Promise<SinkhornResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'p2sam-bench-sk-'));
  const paths = await writeTestkitModel(dir);
  const model = await P2SAM.load({
    encoder: paths.encoder,
    decoder: paths.decoder,
    threads: a.threads,
    onWarning: () => undefined,
  });
  const problems: SinkhornProblem[] = [];
  const ranking: SinkhornRanking[] = [];
  const rows = Math.ceil(H / 16);
  for (const c of a.coverages) {
    const rs = scene(c, 1, [0.45, 0.5]);
    const ref = await model.createReference({ image: rs.image, mask: rs.mask });
    const A = ref.contents().foreground;
    const n = ref.foregroundCells;

    // ---- A: problems ----
    const ts = scene(c, 100, [0.5, 0.5]);
    const emb = await model.encode(ts.image);
    const E = emb.toFloat32Array();
    emb.dispose();
    const object = cellsOf(ts.mask, 0.5);
    const part = (k: number) => cellsOf(ts.parts[k]!, 0.5);
    const targets: [string, number[]][] = [
      ['object', object],
      ['one part', part(0)],
      ['two parts', [...new Set([...part(0), ...part(1)])].sort((x, y) => x - y)],
      ['object + 2-cell ring', dilate(object, 2, rows)],
      ['every touched cell', cellsOf(ts.mask, 1 / 256)],
    ];
    for (const [name, cells] of targets) {
      if (cells.length === 0) continue;
      const B = gather(E, cells);
      const [ex, exMs] = await timed(() => core.wasserstein(A, B, CH, { threads: a.threads }));
      const scale = costScale(A, n, B, cells.length);
      const runs: SinkhornRun[] = [];
      for (const s of a.settings) {
        const [sk, ms] = await timed(() =>
          core.wasserstein(A, B, CH, { solver: 'sinkhorn', threads: a.threads, ...s }),
        );
        runs.push({
          setting: s,
          iterations: sk.iterations,
          converged: sk.converged,
          marginalError: Number(sk.marginalError.toPrecision(3)),
          relativeCostError: Number(((sk.cost - ex.cost) / ex.cost).toPrecision(3)),
          ms: round(ms),
        });
      }
      problems.push({
        coverage: round(rs.info.coverage, 3),
        target: name,
        n,
        m: cells.length,
        exact: { cost: Number(ex.cost.toPrecision(5)), pivots: ex.iterations, ms: round(exMs) },
        meanCost: Number(scale.mean.toPrecision(4)),
        exactOverMeanCost: Number((ex.cost / scale.mean).toPrecision(3)),
        nearestCost: scale.nearest,
        sinkhorn: runs,
      });
    }

    // ---- B: the engine's candidates ----
    const exact: SegmentResult[] = [];
    const bySetting = new Map<number, SegmentResult[]>(a.rankingEpsilons.map((e) => [e, []]));
    for (let i = 0; i < a.rankingTargets; i++) {
      const t = scene(c, 200 + i, [0.5 + 0.03 * i, 0.5 - 0.02 * i]);
      const e: Embedding = await model.encode(t.image);
      exact.push(await model.segment(e, { reference: ref }));
      for (const eps of a.rankingEpsilons)
        bySetting
          .get(eps)!
          .push(await model.segment(e, { reference: ref, retrieval: { solver: 'sinkhorn', epsilon: eps } }));
      e.dispose();
    }
    for (const eps of a.rankingEpsilons) {
      const sk = bySetting.get(eps)!;
      let same = 0;
      let conv = 0;
      let scored = 0;
      const taus: number[] = [];
      sk.forEach((r, i) => {
        const x = exact[i]!;
        if (r.parts === x.parts && r.negatives === x.negatives) same++;
        const idx = x.candidates
          .map((_, k) => k)
          .filter((k) => x.candidates[k]!.score !== null && r.candidates[k]!.score !== null);
        taus.push(
          kendall(
            idx.map((k) => x.candidates[k]!.score!),
            idx.map((k) => r.candidates[k]!.score!),
          ),
        );
        for (const k of idx) {
          scored++;
          if (r.candidates[k]!.converged) conv++;
        }
      });
      ranking.push({
        epsilon: eps,
        coverage: round(rs.info.coverage, 3),
        targets: sk.length,
        sameChoice: same,
        kendallTau: round(summary(taus).median, 3),
        converged: [conv, scored],
        retrievalMs: summary(sk.map((r) => r.timings.retrievalMs)).median,
        exactRetrievalMs: summary(exact.map((r) => r.timings.retrievalMs)).median,
      });
    }
    ref.dispose();
  }
  await model.dispose();
  return { settings: a.settings, problems, ranking };
}
