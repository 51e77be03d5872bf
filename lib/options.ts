/**
 * The public option types of the engine and their validated, defaulted forms.
 * Defaults follow the authors' published settings (docs/algorithm.md §2.6): natural mode tries 1..5
 * parts with one negative point; medical mode 1..5 parts with 1..1 background parts.
 */
import { statSync } from 'node:fs';
import * as path from 'node:path';
import { argumentError, P2SamError } from './errors';
import type { Reference } from './reference';
import * as v from './validate';

/** 'natural': negatives from the target's similarity maps; 'medical': background-part prototypes (docs/algorithm.md §2.6). */
export type Mode = 'natural' | 'medical';
/** Where work runs; 'auto' takes CUDA where usable and records why not. */
export type Device = 'auto' | 'cpu' | 'cuda';
/** Pixel normalisation before the encoder: SAM's ImageNet statistics, or MedSAM's min–max to [0, 1]. */
export type Normalization = 'sam' | 'medsam';
/**
 * Stages of the P2SAM maths that have CUDA kernels. With `device: 'cuda'` only the
 * stages listed in `gpuStages` use them; the rest stay on the CPU core.
 */
export type GpuStage = 'points' | 'kmeans' | 'scoring';
/** k-means restart seeding: scikit-learn's draws (default) or the project's own streams. */
export type KMeansSeeding = 'sklearn' | 'p2sam';
export const KMEANS_SEEDINGS: readonly KMeansSeeding[] = ['sklearn', 'p2sam'];
export const GPU_STAGES: readonly GpuStage[] = ['points', 'kmeans', 'scoring'];
/**
 * Default: only the stage measured faster on the GPU end to end (H200 vs its 16-core
 * host, bench/results/gpu-e2e-*.json): point selection 2.1–2.4× faster. The k-means
 * kernel ran at 0.57–0.73× (each restart is a chain of small dependent steps) and the
 * log-domain Sinkhorn kernel needs far more sweeps than the CPU solver's ε-scaling +
 * Newton steps on clustered features (0.06–0.09×, and short of the tolerance).
 */
export const DEFAULT_GPU_STAGES: readonly GpuStage[] = ['points'];
/** ONNX Runtime graph optimisation level of the sessions. */
export type GraphOptimization = 'disabled' | 'basic' | 'extended' | 'all';

/** A non-fatal condition, reported once per model through `onWarning` and in results. */
export interface Warning {
  code: 'SINGLE_MASK_DECODER' | 'CUDA_FALLBACK' | 'SINKHORN_NOT_CONVERGED';
  message: string;
  /** The options that address it, as the API spells them (e.g. 'retrieval.maxIterations'). */
  params?: string[];
}

/** Options of {@link P2SAM.load}. */
export interface LoadOptions {
  /** Path to the encoder .onnx (external data files beside it are found), or its bytes. */
  encoder: string | Uint8Array;
  /** Path to the decoder .onnx, or its bytes. */
  decoder: string | Uint8Array;
  /** Threads for ONNX Runtime's intra-op pool and for the native maths (default: all cores). */
  threads?: number;
  normalization?: Normalization;
  /**
   * Where the work runs (default 'auto'): the P2SAM maths (k-means, point selection,
   * transport costs) and, unless `modelDevice` is given, the ONNX Runtime sessions.
   * See `P2SAM.backends()` and docs/gpu.md.
   */
  device?: Device;
  /** Where the ONNX Runtime sessions run, when it should differ from `device`. */
  modelDevice?: Device;
  /**
   * With the maths on CUDA: which stages use the kernels (default ['points'], the one
   * measured faster; see docs/gpu.md). 'kmeans' = createReference's clustering;
   * 'scoring' = the transport cost of each candidate (Sinkhorn on the GPU; for the exact
   * solver the cost matrix on the GPU and the simplex on the CPU).
   */
  gpuStages?: GpuStage[];
  graphOptimization?: GraphOptimization;
  /** ONNX Runtime memory-pattern planning. Default false: measured ≈45% lower peak RSS on SAM ViT-B at equal speed. */
  memoryPattern?: boolean;
  /** ONNX Runtime CPU arena. Default true: disabling it saved little memory and was ≈2.4× slower on ViT-B. */
  cpuArena?: boolean;
  /**
   * Run P2SAM's decoder passes on a copy of the decoder whose unused full-resolution
   * `masks` branch is pruned away (default true): ONNX Runtime runs every node whatever
   * outputs are asked for, and that branch is ~30% of a pass on SAM-sized decoders.
   */
  pruneDecoder?: boolean;
  /**
   * Run the encoder with SAM's global-attention blocks rewritten to compute their scores a
   * few heads at a time (lib/onnx/lean-attention.ts; default true): the same embeddings
   * within 1e-5 relative, measured at less than half the peak memory on ViT-B
   * (bench/lean.ts). The rewrite runs on a worker thread while loading; encoders it does
   * not recognise, and encoders with external-data weights, load as they are
   * (`info.encoder.leanAttention` says which happened; `p2sam optimize` writes a lean copy).
   */
  leanAttention?: boolean;
  /**
   * For an encoder or decoder passed as bytes whose weights live in external-data files:
   * the folder those files are in. Without it such a model is refused
   * (`MODEL_UNSUPPORTED`) — ONNX Runtime would look for the files in the current working
   * directory, i.e. read whatever happens to be there. Models loaded by path always use
   * their own folder.
   *
   * @example
   * await P2SAM.load({ encoder: await readFile('vit_h/encoder.onnx'), decoder, externalDataFolder: 'vit_h' });
   */
  externalDataFolder?: string;
  /** How many segment/createReference/encode calls may run at once (default 2); more wait their turn. */
  concurrency?: number;
  onWarning?: (warning: Warning) => void;
}

/** Options of {@link P2SAM.createReference}. */
export interface ReferenceOptions {
  mode?: Mode;
  /** Candidate part counts k (default 1..5). A number n means exactly n. */
  parts?: number | { min: number; max: number };
  /** natural: 0 or 1 negative point (default 1). medical: background part counts kb (default 1..1; 0 = none). */
  negatives?: number | { min: number; max: number };
  /** Seed of the k-means restarts (default 0): same seed, same prototypes. */
  seed?: number;
  /** k-means restarts per k (default 10, as the authors). */
  restarts?: number;
  /**
   * k-means seeding (default 'sklearn'): 'sklearn' gives the partitions of the authors'
   * `KMeans(n_clusters=k, random_state=seed)`; 'p2sam' the project's own streams (the
   * only ones the CUDA k-means implements).
   */
  seeding?: KMeansSeeding;
  signal?: AbortSignal;
}

/** How candidates are scored against the reference (docs/algorithm.md §2.8). */
export interface RetrievalOptions {
  solver?: 'exact' | 'sinkhorn';
  weights?: 'uniform' | 'sigmoid';
  /** Sinkhorn entropic regularisation, relative to the mean transport cost (default 0.01). */
  epsilon?: number;
  /** Sinkhorn iteration cap (default 1000). */
  maxIterations?: number;
  /** Sinkhorn stopping tolerance on the L1 marginal error (default 1e-6). */
  tolerance?: number;
}

/** A progress event of {@link P2SAM.segment}. */
export interface Progress {
  stage: 'encode' | 'points' | 'decode' | 'retrieval' | 'done';
  /** 0..1 over the whole call. */
  fraction: number;
}

/** Options of {@link P2SAM.segment}. */
export interface SegmentOptions {
  /** From {@link P2SAM.createReference} or {@link Reference.fromData}. */
  reference: Reference;
  retrieval?: RetrievalOptions;
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  /** How many candidates run their decoder cascade at once (default 1). */
  parallelCandidates?: number;
}

export const MAX_PARTS = 16;
export const MAX_NEGATIVES = 64;

/** @internal */
export interface ResolvedLoad {
  threads: number;
  normalization: Normalization;
  device: Device;
  modelDevice: Device;
  gpuStages: GpuStage[];
  graphOptimization: number;
  memoryPattern: boolean;
  cpuArena: boolean;
  pruneDecoder: boolean;
  leanAttention: boolean;
  externalDataFolder?: string;
  concurrency: number;
  onWarning?: (w: Warning) => void;
}

function folder(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0) v.fail('type', name, 'a path to a folder', value);
  let isDir = false;
  try {
    isDir = statSync(value).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) throw new P2SamError('MODEL_NOT_FOUND', `${name}: '${value}' is not a folder`);
  return path.resolve(value);
}

export function resolveLoad(o: Record<string, unknown>): ResolvedLoad {
  const device = v.oneOf('options.device', o.device, ['auto', 'cpu', 'cuda'] as const, 'auto');
  const graph = v.oneOf(
    'options.graphOptimization',
    o.graphOptimization,
    ['disabled', 'basic', 'extended', 'all'] as const,
    'all',
  );
  return {
    threads: v.optionalInteger('options.threads', o.threads, 1, 1024, 0),
    normalization: v.oneOf('options.normalization', o.normalization, ['sam', 'medsam'] as const, 'sam'),
    device,
    modelDevice: v.oneOf('options.modelDevice', o.modelDevice, ['auto', 'cpu', 'cuda'] as const, device),
    gpuStages: v.subsetOf('options.gpuStages', o.gpuStages, GPU_STAGES, DEFAULT_GPU_STAGES),
    graphOptimization: { disabled: 0, basic: 1, extended: 2, all: 99 }[graph],
    memoryPattern: v.boolean('options.memoryPattern', o.memoryPattern, false),
    cpuArena: v.boolean('options.cpuArena', o.cpuArena, true),
    pruneDecoder: v.boolean('options.pruneDecoder', o.pruneDecoder, true),
    leanAttention: v.boolean('options.leanAttention', o.leanAttention, true),
    externalDataFolder: folder('options.externalDataFolder', o.externalDataFolder),
    concurrency: v.optionalInteger('options.concurrency', o.concurrency, 1, 64, 2),
    onWarning: v.func('options.onWarning', o.onWarning),
  };
}

/** @internal */
export interface ResolvedReference {
  mode: Mode;
  parts: { min: number; max: number };
  negatives: { min: number; max: number };
  seed: number;
  restarts: number;
  seeding: KMeansSeeding;
  signal?: AbortSignal;
}

export function resolveReference(o: Record<string, unknown>): ResolvedReference {
  const mode = v.oneOf('options.mode', o.mode, ['natural', 'medical'] as const, 'natural');
  const parts = v.intRange('options.parts', o.parts, 1, MAX_PARTS, { min: 1, max: 5 });
  const negatives =
    mode === 'natural'
      ? v.intRange('options.negatives', o.negatives, 0, 1, { min: 1, max: 1 })
      : v.intRange('options.negatives', o.negatives, 0, MAX_NEGATIVES, { min: 1, max: 1 });
  if (mode === 'natural' && negatives.min !== negatives.max)
    throw argumentError('range', {
      param: 'options.negatives',
      expected: 'a single value in natural mode, 0 or 1 (natural mode has at most one negative point)',
      received: `${negatives.min}..${negatives.max}`,
    });
  return {
    mode,
    parts,
    negatives,
    seed: v.optionalInteger('options.seed', o.seed, 0, Number.MAX_SAFE_INTEGER, 0),
    restarts: v.optionalInteger('options.restarts', o.restarts, 1, 100, 10),
    seeding: v.oneOf('options.seeding', o.seeding, KMEANS_SEEDINGS, 'sklearn'),
    signal: v.abortSignal('options.signal', o.signal),
  };
}

/** @internal */
export interface ResolvedSegment {
  solver: 'exact' | 'sinkhorn';
  weights: 'uniform' | 'sigmoid';
  epsilon: number;
  maxIterations: number;
  tolerance: number;
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  parallelCandidates: number;
}

export function resolveSegment(o: Record<string, unknown>): ResolvedSegment {
  const r = v.optionsObject('options.retrieval', o.retrieval);
  return {
    solver: v.oneOf('options.retrieval.solver', r.solver, ['exact', 'sinkhorn'] as const, 'exact'),
    weights: v.oneOf('options.retrieval.weights', r.weights, ['uniform', 'sigmoid'] as const, 'uniform'),
    epsilon: v.optionalNumber('options.retrieval.epsilon', r.epsilon, 0, 10, 0.01, true),
    maxIterations: v.optionalInteger('options.retrieval.maxIterations', r.maxIterations, 1, 1_000_000, 1000),
    tolerance: v.optionalNumber('options.retrieval.tolerance', r.tolerance, 0, 1, 1e-6, true),
    signal: v.abortSignal('options.signal', o.signal),
    onProgress: v.func('options.onProgress', o.onProgress),
    parallelCandidates: v.optionalInteger('options.parallelCandidates', o.parallelCandidates, 1, 16, 1),
  };
}

/**
 * Throws P2SamError `ABORTED` when the signal has been aborted, whatever its reason: the
 * code the README lists for an aborted call, so callers branch on one thing. The
 * signal's reason — the default `DOMException` named AbortError, an Error of the
 * caller's, or any other value — is the error's `cause`, and its message is quoted.
 */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (!signal?.aborted) return;
  const reason: unknown = signal.reason;
  if (reason instanceof P2SamError && reason.code === 'ABORTED') throw reason;
  const why = reason instanceof Error ? reason.message : reason === undefined ? '' : String(reason);
  throw new P2SamError('ABORTED', `the operation was aborted${why ? `: ${why}` : ''}`, { cause: reason });
}
