/**
 * The native maths, public for researchers (`core.kmeans`, `core.wasserstein`, …).
 * Same code the engine runs; inputs are validated here, work runs off the JS thread.
 */
import { P2SamError } from './errors';
import {
  call,
  native,
  type NativeKMeansResult as KMeansResult,
  type NativePrototypeSet as PrototypeResult,
  type NativeTransportResult as WassersteinResult,
} from './native';

export type { KMeansResult, PrototypeResult, WassersteinResult };
import * as v from './validate';
import { KMEANS_SEEDINGS, type KMeansSeeding } from './options';

export interface KMeansOptions {
  /** Candidate cluster counts clustered in one batched call, e.g. [2, 3, 4, 5]. */
  ks: number[];
  /** Restarts per k, keeping the lowest inertia (default 10). */
  restarts?: number;
  /** Lloyd iterations per restart (default 300). */
  maxIterations?: number;
  /** Convergence tolerance relative to the mean per-feature variance (default 1e-4). */
  tolerance?: number;
  /** Same seed → bit-identical result, whatever the thread count (default 0). */
  seed?: number;
  threads?: number;
  /**
   * Restart seeding (default 'sklearn'): 'sklearn' draws exactly what scikit-learn's
   * `KMeans(n_clusters=k, random_state=seed, n_init=restarts)` draws (numpy's MT19937,
   * greedy k-means++, float32 Lloyd), so a seed gives scikit-learn's partition;
   * 'p2sam' uses this project's own per-restart streams (float64 sums, Hamerly bounds).
   */
  seeding?: KMeansSeeding;
}

function kmeansArgs(features: unknown, d: unknown, options: unknown) {
  const dim = v.integer('d', d, 1, 1 << 16);
  const f = v.featureMatrix('features', features, dim);
  const o = v.optionsObject('options', options);
  if (!Array.isArray(o.ks) || o.ks.length === 0)
    v.fail('type', 'options.ks', 'a non-empty array of integers in 1..4096', o.ks);
  const ks = (o.ks as unknown[]).map((k, i) => v.integer(`options.ks[${i}]`, k, 1, 4096));
  const opts = {
    restarts: v.optionalInteger('options.restarts', o.restarts, 1, 1000, 10),
    maxIterations: v.optionalInteger('options.maxIterations', o.maxIterations, 1, 100_000, 300),
    tolerance: v.optionalNumber('options.tolerance', o.tolerance, 0, 1, 1e-4),
    seed: v.optionalInteger('options.seed', o.seed, 0, Number.MAX_SAFE_INTEGER, 0),
    threads: v.optionalInteger('options.threads', o.threads, 1, 1024, 0),
    seeding: v.oneOf('options.seeding', o.seeding, KMEANS_SEEDINGS, 'sklearn'),
  };
  return { f, dim, ks, opts };
}

/**
 * k-means (greedy k-means++ seeding, restarts, Lloyd) on n×d row-major features, for
 * every k in `options.ks` at once. Deterministic for a seed; never an empty cluster.
 * With the default seeding 'sklearn' the partition is scikit-learn's for the same seed.
 *
 * @example
 * const [r] = await core.kmeans(features, 256, { ks: [3], seed: 0 });
 * // r.labels: the partition sklearn.cluster.KMeans(n_clusters=3, random_state=0, n_init=10) finds
 */
export async function kmeans(
  features: Float32Array,
  d: number,
  options: KMeansOptions,
): Promise<KMeansResult[]> {
  const { f, dim, ks, opts } = kmeansArgs(features, d, options);
  return call(native().kmeans(f.data, f.n, dim, Int32Array.from(ks), opts));
}

/** P2SAM part prototypes: k = 1 → normalised mean; k > 1 → k-means then per-cluster normalised means. */
export async function prototypes(
  features: Float32Array,
  d: number,
  options: KMeansOptions,
): Promise<PrototypeResult[]> {
  const { f, dim, ks, opts } = kmeansArgs(features, d, options);
  return call(native().prototypes(f.data, f.n, dim, Int32Array.from(ks), opts));
}

export interface WassersteinOptions {
  /** 'exact' (network simplex, float64; default) or 'sinkhorn' (log-domain, entropic). */
  solver?: 'exact' | 'sinkhorn';
  /** Weights of a's points (default uniform); normalised to sum 1 in float64. */
  weightsA?: Float64Array | number[];
  weightsB?: Float64Array | number[];
  /** Sinkhorn: regularisation relative to the mean cost (default 0.01). */
  epsilon?: number;
  /** Sinkhorn: iteration cap (default 1000). */
  maxIterations?: number;
  /** Sinkhorn: L1 marginal error to stop at (default 1e-6 — far below the ≈1% bias that ε itself introduces). */
  tolerance?: number;
  threads?: number;
}

/**
 * Optimal-transport cost between two weighted point clouds a (n×d) and b (m×d) with
 * squared-Euclidean ground cost — the "EMD" P2SAM ranks candidates by.
 */
export async function wasserstein(
  a: Float32Array,
  b: Float32Array,
  d: number,
  options: WassersteinOptions = {},
): Promise<WassersteinResult> {
  const dim = v.integer('d', d, 1, 1 << 16);
  const A = v.featureMatrix('a', a, dim);
  const B = v.featureMatrix('b', b, dim);
  const o = v.optionsObject('options', options);
  const wa = v.weights('options.weightsA', o.weightsA, A.n);
  const wb = v.weights('options.weightsB', o.weightsB, B.n);
  const solver = v.oneOf('options.solver', o.solver, ['exact', 'sinkhorn'] as const, 'exact');
  const r = await call(
    native().wasserstein(A.data, A.n, B.data, B.n, dim, wa, wb, {
      solver,
      epsilon: v.optionalNumber('options.epsilon', o.epsilon, 0, 10, 0.01, true),
      maxIterations: v.optionalInteger('options.maxIterations', o.maxIterations, 1, 10_000_000, 1000),
      tolerance: v.optionalNumber('options.tolerance', o.tolerance, 0, 1, 1e-6),
      threads: v.optionalInteger('options.threads', o.threads, 1, 1024, 0),
    }),
  );
  // Finite inputs can still overflow inside a solver (Sinkhorn keeps its cost matrix in
  // float32, so squared distances above ~3e38 become Infinity and the plan NaN). A NaN
  // cost must never reach the caller as if it were a distance.
  if (!Number.isFinite(r.cost))
    throw new P2SamError(
      'INVALID_ARGUMENT',
      `wasserstein: the ${solver} solver produced a non-finite cost (${r.cost}): the squared distances between a and b overflow its arithmetic; scale the features down${solver === 'sinkhorn' ? " or use solver 'exact'" : ''}`,
    );
  return r;
}
