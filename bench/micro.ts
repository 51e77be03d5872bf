/**
 * Micro-benchmarks of the native maths: the C++ bench executables (build/Release/bench_*,
 * each run with --json; the Wasserstein one forks a child per size so its peak RSS is
 * per problem) and the same functions through the public `core.*` API, which adds the
 * N-API hand-off and the copy of the inputs.
 */
import { core } from '../lib';
import { mulberry32 } from '../lib/testkit/prng';
import { round, runNative, summary, type Summary } from './util';

function gaussianCloud(n: number, d: number, seed: number, shift: number): Float32Array {
  const rnd = mulberry32(seed);
  // In (0, 1]: the Box-Muller logarithm needs a non-zero argument.
  const u = () => 1 - rnd();
  const out = new Float32Array(n * d);
  for (let i = 0; i < out.length; i++)
    out[i] = Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()) + shift;
  return out;
}

/** Points around 8 part centres with spread comparable to their separation (like one object's features). */
function mixture(n: number, d: number, seed: number): Float32Array {
  const centres = gaussianCloud(8, d, seed, 0);
  const noise = gaussianCloud(n, d, seed + 1, 0);
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < d; j++) out[i * d + j] = 0.35 * centres[(i % 8) * d + j]! + 0.25 * noise[i * d + j]!;
  return out;
}

async function time(reps: number, fn: () => Promise<unknown>): Promise<Summary> {
  await fn();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const a = performance.now();
    await fn();
    t.push(performance.now() - a);
  }
  return summary(t);
}

export interface MicroResult {
  native: Record<string, unknown>;
  js: {
    kmeans: { n: number; d: number; ks: number[]; restarts: number; ms: Summary }[];
    wasserstein: {
      n: number;
      m: number;
      solver: string;
      ms: Summary;
      iterations: number;
      converged: boolean;
    }[];
  };
}

export async function microSection(a: { quick: boolean; threads: number }): Promise<MicroResult> {
  const native: Record<string, unknown> = {};
  const reps = a.quick ? '3' : '7';
  for (const n of ['1600', '4096']) {
    const r = runNative(
      'bench_kmeans',
      [
        '--n',
        n,
        '--d',
        '256',
        '--ks',
        '2,3,4,5',
        '--restarts',
        '10',
        '--reps',
        reps,
        '--threads',
        String(a.threads),
      ],
      120_000,
    );
    native[`kmeans_${n}x256`] = r.ok ? r.json : { skipped: r.reason };
  }
  const sim = runNative(
    'bench_similarity',
    ['--reps', a.quick ? '5' : '15', '--threads', String(a.threads)],
    120_000,
  );
  native.similarity = sim.ok ? sim.json : { skipped: sim.reason };
  if (a.quick) {
    const rows: unknown[] = [];
    let reason = '';
    // --only prints one JSON object per solver and line, so ask for one solver at a time.
    for (const size of ['500x500', '1000x1000', '2000x1500'])
      for (const solver of ['exact', 'sinkhorn']) {
        const r = runNative(
          'bench_wasserstein',
          ['--only', size, '--solver', solver, '--threads', String(a.threads)],
          120_000,
        );
        if (!r.ok) reason = r.reason;
        else rows.push(r.json);
      }
    native.wasserstein = reason ? { skipped: reason } : { results: rows };
  } else {
    const w = runNative('bench_wasserstein', ['--threads', String(a.threads)], 300_000);
    native.wasserstein = w.ok ? w.json : { skipped: w.reason };
  }

  const js: MicroResult['js'] = { kmeans: [], wasserstein: [] };
  for (const n of [1600, 4096]) {
    const x = mixture(n, 256, 3);
    const ms = await time(a.quick ? 3 : 7, () =>
      core.kmeans(x, 256, { ks: [2, 3, 4, 5], restarts: 10, threads: a.threads }),
    );
    js.kmeans.push({ n, d: 256, ks: [2, 3, 4, 5], restarts: 10, ms });
  }
  const sizes: [number, number][] = a.quick
    ? [
        [500, 500],
        [1000, 1000],
      ]
    : [
        [500, 500],
        [1000, 1000],
        [2000, 1500],
      ];
  for (const [n, m] of sizes) {
    const A = gaussianCloud(n, 256, 11, 0);
    const B = gaussianCloud(m, 256, 12, 0.3);
    for (const solver of ['exact', 'sinkhorn'] as const) {
      let last = { iterations: 0, converged: false };
      const ms = await time(a.quick ? 1 : 3, async () => {
        last = await core.wasserstein(A, B, 256, { solver, threads: a.threads });
      });
      js.wasserstein.push({ n, m, solver, ms, iterations: last.iterations, converged: last.converged });
    }
  }
  return {
    native,
    js: {
      kmeans: js.kmeans.map((k) => ({ ...k, ms: { ...k.ms, median: round(k.ms.median) } })),
      wasserstein: js.wasserstein,
    },
  };
}
