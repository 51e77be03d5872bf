/**
 * Property tests (fast-check) of the public native maths against independent
 * brute-force references written here: optimal assignment by enumeration, a small
 * transportation LP by successive shortest paths, and k-means on separated clusters.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { core } from '../lib';
import { mulberry32 } from '../lib/testkit/prng';

const D = 4;

function sqdist(a: Float32Array, i: number, b: Float32Array, j: number, d: number): number {
  let s = 0;
  for (let k = 0; k < d; k++) {
    const t = a[i * d + k] - b[j * d + k];
    s += t * t;
  }
  return s;
}

/** (1/n) · min over permutations of Σ cost — the exact OT value for uniform equal-size clouds. */
function bruteForceAssignment(a: Float32Array, b: Float32Array, n: number, d: number): number {
  const used = new Array<boolean>(n).fill(false);
  let best = Infinity;
  const go = (i: number, acc: number) => {
    if (acc >= best) return;
    if (i === n) {
      best = acc;
      return;
    }
    for (let j = 0; j < n; j++) {
      if (used[j]) continue;
      used[j] = true;
      go(i + 1, acc + sqdist(a, i, b, j, d));
      used[j] = false;
    }
  };
  go(0, 0);
  return best / n;
}

/** Hungarian algorithm (potentials form, O(n³)) for a square cost matrix: min Σ cost[i][π(i)]. */
function hungarian(cost: number[][]): number {
  const n = cost.length;
  const u = new Array<number>(n + 1).fill(0);
  const v = new Array<number>(n + 1).fill(0);
  const p = new Array<number>(n + 1).fill(0);
  const way = new Array<number>(n + 1).fill(0);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    const minv = new Array<number>(n + 1).fill(Infinity);
    const used = new Array<boolean>(n + 1).fill(false);
    do {
      used[j0] = true;
      const i0 = p[j0];
      let delta = Infinity;
      let j1 = 0;
      for (let j = 1; j <= n; j++) {
        if (used[j]) continue;
        const cur = cost[i0 - 1][j - 1] - u[i0] - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      for (let j = 0; j <= n; j++) {
        if (used[j]) {
          u[p[j]] += delta;
          v[j] -= delta;
        } else minv[j] -= delta;
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0);
  }
  let total = 0;
  for (let j = 1; j <= n; j++) total += cost[p[j] - 1][j - 1];
  return total;
}

/**
 * Exact OT for small integer weights, independent of the solver under test: point i of
 * a is replicated wa_i·Σwb times and point j of b wb_j·Σwa times, which turns the
 * weighted problem into an equal-size assignment problem (mass ∝ copies).
 */
function transportByReplication(
  a: Float32Array,
  n: number,
  b: Float32Array,
  m: number,
  d: number,
  wa: number[],
  wb: number[],
): number {
  const sa = wa.reduce((x, y) => x + y, 0);
  const sb = wb.reduce((x, y) => x + y, 0);
  const rows: number[] = [];
  const cols: number[] = [];
  for (let i = 0; i < n; i++) for (let c = 0; c < wa[i] * sb; c++) rows.push(i);
  for (let j = 0; j < m; j++) for (let c = 0; c < wb[j] * sa; c++) cols.push(j);
  const cost = rows.map((i) => cols.map((j) => sqdist(a, i, b, j, d)));
  return hungarian(cost) / rows.length;
}

const cloud = (maxN: number) =>
  fc.integer({ min: 1, max: maxN }).chain((n) =>
    fc
      .array(fc.float({ min: -5, max: 5, noNaN: true, noDefaultInfinity: true }), {
        minLength: n * D,
        maxLength: n * D,
      })
      .map((v) => ({ n, data: Float32Array.from(v) })),
  );

describe('core.wasserstein (exact)', () => {
  it('equals brute-force optimal assignment on equal-size uniform clouds', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 6 }).chain((n) =>
          fc.tuple(
            fc.constant(n),
            fc.array(fc.float({ min: -5, max: 5, noNaN: true, noDefaultInfinity: true }), {
              minLength: n * D,
              maxLength: n * D,
            }),
            fc.array(fc.float({ min: -5, max: 5, noNaN: true, noDefaultInfinity: true }), {
              minLength: n * D,
              maxLength: n * D,
            }),
          ),
        ),
        async ([n, av, bv]) => {
          const a = Float32Array.from(av);
          const b = Float32Array.from(bv);
          const r = await core.wasserstein(a, b, D);
          const ref = bruteForceAssignment(a, b, n, D);
          expect(r.converged).toBe(true);
          expect(Math.abs(r.cost - ref)).toBeLessThanOrEqual(1e-6 * Math.max(1, ref));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('equals the exact transportation optimum on weighted clouds of different sizes', async () => {
    await fc.assert(
      fc.asyncProperty(
        cloud(5),
        cloud(5),
        fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 5, maxLength: 5 }),
        fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 5, maxLength: 5 }),
        async (A, B, wa, wb) => {
          const weightsA = wa.slice(0, A.n);
          const weightsB = wb.slice(0, B.n);
          const r = await core.wasserstein(A.data, B.data, D, { weightsA, weightsB });
          const ref = transportByReplication(A.data, A.n, B.data, B.n, D, weightsA, weightsB);
          expect(Math.abs(r.cost - ref)).toBeLessThanOrEqual(1e-6 * Math.max(1, ref));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('is symmetric, non-negative, and 0 on identical clouds', async () => {
    await fc.assert(
      fc.asyncProperty(cloud(12), cloud(12), async (A, B) => {
        const ab = await core.wasserstein(A.data, B.data, D);
        const ba = await core.wasserstein(B.data, A.data, D);
        expect(ab.cost).toBeGreaterThanOrEqual(0);
        expect(Math.abs(ab.cost - ba.cost)).toBeLessThanOrEqual(1e-9 * Math.max(1, ab.cost));
        const aa = await core.wasserstein(A.data, A.data, D);
        expect(aa.cost).toBeLessThanOrEqual(1e-9);
      }),
      { numRuns: 40 },
    );
  });

  it('handles a 4096×4096, 256-d problem (the largest P2SAM can produce)', async () => {
    const n = 4096;
    const a = new Float32Array(n * 256);
    const b = new Float32Array(n * 256);
    const uniform = mulberry32(7);
    const rnd = () => uniform() - 0.5;
    for (let i = 0; i < a.length; i++) {
      a[i] = rnd();
      b[i] = rnd() + 0.1;
    }
    const r = await core.wasserstein(a, b, 256);
    expect(r.converged).toBe(true);
    expect(Number.isFinite(r.cost)).toBe(true);
    // The cost can never be below the squared distance between the means (Jensen).
    let mean = 0;
    for (let k = 0; k < 256; k++) {
      let ma = 0;
      let mb = 0;
      for (let i = 0; i < n; i++) {
        ma += a[i * 256 + k];
        mb += b[i * 256 + k];
      }
      mean += ((ma - mb) / n) ** 2;
    }
    expect(r.cost).toBeGreaterThanOrEqual(mean - 1e-6);
  }, 120_000);

  it('rejects malformed input with errors that name the parameter', async () => {
    await expect(core.wasserstein(new Float32Array(5), new Float32Array(4), 4)).rejects.toThrow(
      /a must hold n×4 values/,
    );
    await expect(
      core.wasserstein(Float32Array.of(0, Number.NaN, 0, 0), new Float32Array(4), 4),
    ).rejects.toThrow(RangeError);
    await expect(
      core.wasserstein(new Float32Array(4), new Float32Array(4), 4, { weightsA: [-1] }),
    ).rejects.toThrow(/weightsA/);
    await expect(
      core.wasserstein(new Float32Array(4), new Float32Array(4), 4, { solver: 'simplex' as 'exact' }),
    ).rejects.toThrow(/options.solver/);
  });
});

describe('core.wasserstein (sinkhorn)', () => {
  it('approaches the exact value as epsilon shrinks', async () => {
    await fc.assert(
      fc.asyncProperty(cloud(10), cloud(10), async (A, B) => {
        const exact = (await core.wasserstein(A.data, B.data, D)).cost;
        const coarse = await core.wasserstein(A.data, B.data, D, {
          solver: 'sinkhorn',
          epsilon: 0.5,
          maxIterations: 100000,
        });
        const fine = await core.wasserstein(A.data, B.data, D, {
          solver: 'sinkhorn',
          epsilon: 0.002,
          maxIterations: 100000,
        });
        expect(Math.abs(fine.cost - exact)).toBeLessThanOrEqual(
          Math.abs(coarse.cost - exact) + 1e-6 * Math.max(1, exact),
        );
        expect(Math.abs(fine.cost - exact)).toBeLessThanOrEqual(0.05 * exact + 1e-3);
      }),
      { numRuns: 25 },
    );
  });

  it('reports non-convergence when the iteration cap is hit', async () => {
    const a = Float32Array.from({ length: 40 * D }, (_, i) => Math.sin(i));
    const b = Float32Array.from({ length: 30 * D }, (_, i) => Math.cos(i * 1.7));
    const r = await core.wasserstein(a, b, D, { solver: 'sinkhorn', epsilon: 0.001, maxIterations: 2 });
    expect(r.converged).toBe(false);
    expect(r.iterations).toBe(2);
    expect(Number.isFinite(r.cost)).toBe(true);
  });
});

describe('core.kmeans', () => {
  /** k well-separated blobs of `per` points each. */
  function blobs(k: number, per: number, d: number, seed: number): Float32Array {
    const uniform = mulberry32(seed);
    const rnd = () => uniform() - 0.5;
    const out = new Float32Array(k * per * d);
    for (let c = 0; c < k; c++)
      for (let p = 0; p < per; p++)
        for (let j = 0; j < d; j++) out[(c * per + p) * d + j] = (j === c % d ? 100 * (c + 1) : 0) + rnd();
    return out;
  }

  it('recovers well-separated clusters exactly (up to label permutation)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: 5 }), fc.integer({ min: 0, max: 1000 }), async (k, seed) => {
        const per = 12;
        const data = blobs(k, per, 8, seed);
        const [r] = await core.kmeans(data, 8, { ks: [k], seed });
        for (let c = 0; c < k; c++) {
          const label = r.labels[c * per];
          for (let p = 0; p < per; p++) expect(r.labels[c * per + p]).toBe(label);
        }
        expect(new Set(Array.from(r.labels)).size).toBe(k);
      }),
      { numRuns: 20 },
    );
  });

  it('is deterministic for a seed and never leaves a cluster empty, even with duplicates', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 6 }),
        fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 20 }),
        async (k, picks) => {
          // Few distinct points (0..2) repeated: k may exceed the number of distinct points.
          const data = Float32Array.from(picks.flatMap((p) => [p, -p, 2 * p]));
          const a = await core.kmeans(data, 3, { ks: [k], seed: 42 });
          const b = await core.kmeans(data, 3, { ks: [k], seed: 42, threads: 1 });
          expect(Array.from(a[0].labels)).toEqual(Array.from(b[0].labels));
          if (picks.length < k) {
            expect(a[0].skipped).toBe(true);
            return;
          }
          expect(new Set(Array.from(a[0].labels)).size).toBe(k);
          expect(Number.isFinite(a[0].inertia)).toBe(true);
          for (const c of a[0].centroids) expect(Number.isFinite(c)).toBe(true);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('clusters all candidate part counts in one batched call; prototypes are unit-norm', async () => {
    const data = blobs(5, 20, 16, 3);
    const res = await core.prototypes(data, 16, { ks: [1, 2, 3, 4, 5] });
    expect(res.map((r) => r.k)).toEqual([1, 2, 3, 4, 5]);
    for (const r of res) {
      for (let c = 0; c < r.k; c++) {
        let norm = 0;
        for (let j = 0; j < 16; j++) norm += r.prototypes[c * 16 + j] ** 2;
        expect(Math.abs(Math.sqrt(norm) - 1)).toBeLessThan(1e-5);
      }
    }
  });

  it('rejects bad arguments with typed errors', async () => {
    await expect(core.kmeans(new Float32Array(6), 3, { ks: [] })).rejects.toThrow(/options.ks/);
    await expect(core.kmeans(new Float32Array(6), 3, { ks: [0] })).rejects.toThrow(RangeError);
    await expect(core.kmeans([1, 2, 3] as unknown as Float32Array, 3, { ks: [1] })).rejects.toThrow(
      TypeError,
    );
  });
});
