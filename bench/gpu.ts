/**
 * Per-stage times of whole segment() calls with the P2SAM maths on the CPU vs on the GPU
 * (issue 5). Every model runs its ONNX sessions on the CPU (`modelDevice: 'cpu'`), so
 * the columns differ only in where k-means (createReference), point selection and the
 * transport scoring run — the stages the addon's CUDA kernels replace. Columns: cpu;
 * gpu = the default `gpuStages` (['points']); gpu-all = every stage on the kernels.
 *
 *   node dist/bench/gpu.js [--out FILE] [--targets N] [--threads N] [--cpu-both]
 *
 * --cpu-both runs the "GPU" column on the CPU too: a dry run of this script on a machine
 * without a GPU (its ratios are ~1, its masks must be identical).
 *
 * Sections: reference coverage 10 % and 35 % (more foreground cells → larger k-means
 * and transport problems) × solver exact / Sinkhorn. For each, createReference's
 * prototype stage (median of 3) and per target: points, scoring (summed over the
 * candidates), candidate stage wall time and total (medians over N targets after one
 * warm-up). Prints a table; writes JSON. Without a usable GPU it says so and exits 0.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { P2SAM, type Reference } from '../lib';
import { writeTestkitModel } from '../lib/testkit';
import { makeScene, sequence } from '../lib/testkit/scenes';
import { machineInfo, median, round, table } from './util';

interface StageTimes {
  prototypesMs: number;
  pointsMs: number;
  scoringMs: number;
  candidatesMs: number;
  totalMs: number;
  targetCells: number;
  referenceCells: number;
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

async function measure(
  model: P2SAM,
  coverage: number,
  solver: 'exact' | 'sinkhorn',
  targets: number,
): Promise<StageTimes & { masks: Uint8Array[] }> {
  const refScene = makeScene({ width: 1024, height: 768, seed: 7, coverage, center: [0.45, 0.5] });
  const embedding = await model.encode(refScene.image);
  const protoMs: number[] = [];
  let ref: Reference | undefined;
  for (let i = 0; i < 3; i++) {
    ref = await model.createReference({ image: embedding, mask: refScene.mask });
    protoMs.push(ref.timings.prototypesMs);
  }
  const frames = sequence(targets + 1, {
    width: 1024,
    height: 768,
    seed: 7,
    from: { center: [0.42, 0.48], scale: Math.sqrt(coverage) * 0.9 },
    to: { center: [0.58, 0.52], scale: Math.sqrt(coverage) * 1.1 },
  });
  const rows: { points: number; scoring: number; cand: number; total: number; cells: number }[] = [];
  const masks: Uint8Array[] = [];
  for (let i = 0; i < frames.length; i++) {
    const e = await model.encode(frames[i].image);
    const t0 = performance.now();
    const r = await model.segment(e, { reference: ref!, retrieval: { solver } });
    const total = performance.now() - t0;
    if (i === 0) continue; // warm-up: first kernel launches, allocator growth
    masks.push(r.mask);
    rows.push({
      points: r.timings.pointsMs,
      scoring: r.timings.retrievalMs,
      cand: r.timings.candidatesMs,
      total,
      cells: median(r.candidates.map((c) => c.targetCells)),
    });
  }
  return {
    prototypesMs: round(median(protoMs)),
    pointsMs: round(median(rows.map((r) => r.points))),
    scoringMs: round(median(rows.map((r) => r.scoring))),
    candidatesMs: round(median(rows.map((r) => r.cand))),
    totalMs: round(median(rows.map((r) => r.total))),
    targetCells: median(rows.map((r) => r.cells)),
    referenceCells: ref!.foregroundCells,
    masks,
  };
}

const ratio = (x: number): number | string => (Number.isFinite(x) ? round(x, 2) : '-');

async function main(): Promise<void> {
  const out = arg('out', path.join('bench', 'results', `gpu-e2e-${os.hostname()}.json`));
  const targets = Number(arg('targets', '8'));
  const threads = Number(arg('threads', String(os.availableParallelism())));
  const cuda = P2SAM.backends().cuda;
  const dryRun = process.argv.includes('--cpu-both');
  if (!cuda.kernelsAvailable && !dryRun) {
    console.log(`no GPU: ${cuda.reason}`);
    return;
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'p2sam-gpu-bench-'));
  const paths = await writeTestkitModel(dir, {});
  const quiet = () => undefined;
  const cpu = await P2SAM.load({ ...paths, device: 'cpu', threads, onWarning: quiet });
  const gpuDevice = dryRun ? 'cpu' : 'cuda';
  const gpu = await P2SAM.load({
    ...paths,
    device: gpuDevice,
    modelDevice: 'cpu',
    threads,
    onWarning: quiet,
  });
  const gpuAll = await P2SAM.load({
    ...paths,
    device: gpuDevice,
    modelDevice: 'cpu',
    gpuStages: ['points', 'kmeans', 'scoring'],
    threads,
    onWarning: quiet,
  });
  const sections: Record<string, unknown>[] = [];
  const rows: (string | number)[][] = [];
  for (const coverage of [0.1, 0.35]) {
    for (const solver of ['exact', 'sinkhorn'] as const) {
      const c = await measure(cpu, coverage, solver, targets);
      const g = await measure(gpu, coverage, solver, targets);
      const a = await measure(gpuAll, coverage, solver, targets);
      const same = (x: Uint8Array[]) => c.masks.every((m, i) => Buffer.from(m).equals(Buffer.from(x[i])));
      const strip = ({ masks: _m, ...rest }: StageTimes & { masks: Uint8Array[] }) => rest;
      sections.push({
        coverage,
        solver,
        cpu: strip(c),
        gpu: strip(g),
        gpuAll: strip(a),
        sameMasks: same(g.masks),
        sameMasksAll: same(a.masks),
      });
      for (const stage of ['prototypesMs', 'pointsMs', 'scoringMs', 'candidatesMs', 'totalMs'] as const)
        rows.push([
          `${coverage * 100}% ${solver}`,
          stage.replace('Ms', ''),
          c[stage],
          g[stage],
          a[stage],
          ratio(c[stage] / g[stage]),
          ratio(c[stage] / a[stage]),
        ]);
      rows.push([
        `${coverage * 100}% ${solver}`,
        `cells ref/target ${c.referenceCells}/${c.targetCells}`,
        '',
        same(g.masks) ? 'same masks' : 'MASKS DIFFER',
        same(a.masks) ? 'same masks' : 'MASKS DIFFER',
        '',
        '',
      ]);
    }
  }
  await cpu.dispose();
  await gpu.dispose();
  await gpuAll.dispose();
  const report = {
    date: new Date().toISOString(),
    machine: machineInfo(threads),
    gpu: dryRun
      ? 'none: --cpu-both dry run'
      : { device: cuda.device, computeCapability: cuda.computeCapability },
    note: 'ONNX sessions on the CPU in both columns (testkit basic encoder/decoder, 1024×768 scenes); medians; GPU times include host↔device copies',
    targets,
    sections,
  };
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  table(
    `segment() stages, maths on CPU vs GPU (${cuda.device}), ms`,
    ['section', 'stage', 'cpu', 'gpu', 'gpu-all', 'cpu/gpu', 'cpu/gpu-all'],
    rows,
  );
  console.log(`wrote ${out}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
