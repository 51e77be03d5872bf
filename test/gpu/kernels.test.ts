/**
 * native/cuda: each GPU kernel against the CPU core on identical inputs. Skipped, with
 * a console line, on machines without a CUDA device (see gpu-helpers.ts).
 */
import { describe, expect, it } from 'vitest';
import { native } from '../../lib/native';
import { blobs, gpuAvailable, gpuBindings, rng } from './gpu-helpers';

describe.skipIf(!gpuAvailable)('GPU kernels vs the CPU core', () => {
  const gpu = gpuBindings()!;
  const cpu = native();

  it('k-means: same seeds give the same partitions; inertia within 1e-4 relative', async () => {
    for (const [n, d, seed] of [
      [3000, 256, 1],
      [517, 13, 9],
      [64, 256, 4],
    ] as const) {
      const x = blobs(n, d, 4, seed);
      const ks = Int32Array.from([1, 2, 3, 4, 5]);
      const opts = { restarts: 10, maxIterations: 300, tolerance: 1e-4, seed };
      const [g, c] = await Promise.all([
        gpu.kmeans(x, n, d, ks, opts),
        cpu.kmeans(x, n, d, ks, { ...opts, threads: 2 }),
      ]);
      expect(g).toHaveLength(5);
      for (let q = 0; q < ks.length; q++) {
        expect(g[q].k).toBe(c[q].k);
        expect(Math.abs(g[q].inertia - c[q].inertia)).toBeLessThanOrEqual(1e-4 * c[q].inertia);
        // Every cluster used, labels in range, centroids finite.
        expect(new Set(g[q].labels).size).toBe(ks[q]);
        expect(g[q].centroids.every(Number.isFinite)).toBe(true);
      }
    }
  });

  it('k-means: bad input rejects with INVALID_ARGUMENT naming the parameter', async () => {
    const x = Float32Array.of(1, 2, Number.NaN, 4);
    await expect(gpu.kmeans(x, 2, 2, Int32Array.from([2]), {})).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: /'features'/,
    });
    await expect(gpu.kmeans(new Float32Array(4), 2, 2, Int32Array.from([0]), {})).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: /'ks'/,
    });
  });

  it('point selection: identical points to the CPU for several image shapes', async () => {
    const r = rng(5);
    const data = Float32Array.from({ length: 256 * 4096 }, () => r() - 0.5);
    const protos = (count: number) => {
      const p = Float32Array.from({ length: count * 256 }, () => r() - 0.5);
      for (let i = 0; i < count; i++) {
        let s = 0;
        for (let c = 0; c < 256; c++) s += p[i * 256 + c] ** 2;
        for (let c = 0; c < 256; c++) p[i * 256 + c] /= Math.sqrt(s);
      }
      return p;
    };
    const sets = [
      { prototypes: protos(4), count: 4, meanArgmin: false },
      { prototypes: protos(3), count: 3, meanArgmin: true },
      { prototypes: new Float32Array(0), count: 0, meanArgmin: false },
    ];
    for (const [w, h] of [
      [640, 480],
      [333, 1000],
      [48, 40],
    ]) {
      const scale = 1024 / Math.max(w, h);
      const meta = {
        origWidth: w,
        origHeight: h,
        inputWidth: Math.floor(w * scale + 0.5),
        inputHeight: Math.floor(h * scale + 0.5),
      };
      const emb = new cpu.NativeEmbedding(data, meta);
      const [g, c] = await Promise.all([
        cpu.selectPoints(emb, sets, 0, 'cuda'),
        cpu.selectPoints(emb, sets, 2),
      ]);
      expect(g.map((s) => [Array.from(s.argmax), s.meanArgmin && Array.from(s.meanArgmin)])).toEqual(
        c.map((s) => [Array.from(s.argmax), s.meanArgmin && Array.from(s.meanArgmin)]),
      );
    }
  });

  it('cost matrix: squared Euclidean distances to float64 rounding', async () => {
    const n = 300;
    const m = 257;
    const d = 256;
    const a = blobs(n, d, 3, 2);
    const b = blobs(m, d, 3, 3);
    const g = await gpu.costMatrix(a, n, b, m, d);
    let worst = 0;
    for (let i = 0; i < n; i += 7)
      for (let j = 0; j < m; j++) {
        let s = 0;
        let na = 0;
        let nb = 0;
        for (let t = 0; t < d; t++) {
          s += (a[i * d + t] - b[j * d + t]) ** 2;
          na += a[i * d + t] ** 2;
          nb += b[j * d + t] ** 2;
        }
        worst = Math.max(worst, Math.abs(g[i * m + j] - s) / (na + nb));
      }
    expect(worst).toBeLessThan(1e-12);
    const first = a.slice(0, d);
    const self = await gpu.costMatrix(first, 1, first, 1, d);
    expect(self[0]).toBe(0);
  });

  it("Sinkhorn: converges to the CPU solver's entropic optimum", async () => {
    // Only converged results are compared: the entropic plan is unique, while the
    // iterations it takes depend on each solver's start and acceleration.
    const n = 500;
    const m = 420;
    const d = 256;
    const a = blobs(n, d, 3, 6);
    const b = blobs(m, d, 4, 7);
    const wb = Float64Array.from({ length: m }, (_, j) => 1 + (j % 5));
    for (const epsilon of [0.1, 0.02]) {
      const opts = { epsilon, maxIterations: 100000, tolerance: 1e-9 };
      const g = await gpu.sinkhorn(a, n, b, m, d, null, wb, opts);
      const c = await cpu.wasserstein(a, n, b, m, d, null, wb, { solver: 'sinkhorn', threads: 2, ...opts });
      expect(g.converged).toBe(true);
      expect(c.converged).toBe(true);
      expect(g.marginalError).toBeLessThan(1e-9);
      expect(Math.abs(g.cost - c.cost)).toBeLessThanOrEqual(1e-6 * c.cost);
    }
    // A capped run reports the cap and a finite error instead of converging.
    const capped = await gpu.sinkhorn(a, n, b, m, d, null, wb, {
      epsilon: 0.02,
      maxIterations: 2,
      tolerance: 1e-12,
    });
    expect(capped).toMatchObject({ converged: false, iterations: 2 });
    expect(Number.isFinite(capped.marginalError) && Number.isFinite(capped.cost)).toBe(true);
  });
});
